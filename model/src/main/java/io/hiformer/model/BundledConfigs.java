package io.hiformer.model;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Model configs shipped inside this jar (docs/model.md, "Reference config"), so load tests and
 * benchmarks name the same model on every machine without a file of their own.
 */
public final class BundledConfigs {
  /** The reference serving config: 24 categorical and 8 dense fields, 2 tasks, 3 layers, d = 32. */
  public static final String REF_SERVING = "ref-serving";

  private static final List<String> NAMES = List.of(REF_SERVING);

  private BundledConfigs() {}

  /** The names of the bundled configs. */
  public static List<String> names() {
    return NAMES;
  }

  /** The bundled config called {@code name}; an IllegalArgumentException naming the others if none is. */
  public static ModelConfig get(String name) {
    if (!NAMES.contains(name)) {
      throw new IllegalArgumentException("no bundled model config '" + name + "' (bundled: "
          + String.join(", ", NAMES) + ")");
    }
    try (InputStream in = BundledConfigs.class.getResourceAsStream(name + ".json")) {
      if (in == null) {
        throw new IllegalStateException("bundled model config " + name + ".json is missing from the jar");
      }
      return ModelConfig.fromJson(new String(in.readAllBytes(), StandardCharsets.UTF_8));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * The config in the JSON file {@code fileOrName}, or, where no such file exists and it is the
   * name of a bundled config, that one. A file wins over a bundled config of the same name.
   */
  public static ModelConfig fileOrBundled(Path fileOrName) throws IOException {
    if (Files.exists(fileOrName)) {
      return ModelConfig.fromJson(Files.readString(fileOrName));
    }
    if (NAMES.contains(fileOrName.toString())) {
      return get(fileOrName.toString());
    }
    throw new IllegalArgumentException("no model config file '" + fileOrName + "' and no bundled config of that"
        + " name (bundled: " + String.join(", ", NAMES) + ")");
  }
}
