package io.hiformer.model;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/** The golden files in the test resources (docs/model.md, Expected files). */
final class Golden {
  static final String SMALL = "golden-small";
  static final String UNPRUNED = "golden-unpruned";

  private Golden() {}

  static byte[] weights(String name) {
    return resource(name + ".weights.safetensors");
  }

  static byte[] expected(String name) {
    return resource(name + ".expected.safetensors");
  }

  static String configJson(String name) {
    return new String(resource(name + ".json"), java.nio.charset.StandardCharsets.UTF_8);
  }

  static byte[] resource(String file) {
    try (InputStream in = Golden.class.getResourceAsStream("/golden/" + file)) {
      if (in == null) {
        throw new IllegalStateException("missing test resource golden/" + file);
      }
      return in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
