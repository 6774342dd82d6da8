package io.hiformer.model;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Model files (docs/model.md, Model file): one safetensors file whose {@code __metadata__} holds the
 * {@code config} JSON and any other string entries, and one F32 tensor per parameter of that
 * config. Reading checks everything that section lists and throws {@link ModelFileException} for any
 * bad content; I/O failures stay {@link IOException}s.
 */
public final class ModelFile {

  /** The metadata key holding {@link ModelConfig#toJson()}. */
  public static final String CONFIG_KEY = "config";

  /** A loaded model: its parameters and its metadata other than {@code config}, in file order. */
  public record Loaded(Parameters parameters, Map<String, String> metadata) {
    public Loaded {
      metadata = Collections.unmodifiableMap(new LinkedHashMap<>(metadata));
    }
  }

  private ModelFile() {}

  public static Parameters read(Path path) throws IOException {
    return load(path).parameters();
  }

  public static Parameters read(byte[] file) {
    return load(file).parameters();
  }

  public static Loaded load(Path path) throws IOException {
    SafeTensors file = SafeTensors.read(path);
    try {
      return from(file);
    } catch (ModelFileException e) {
      throw new ModelFileException(path + ": " + e.getMessage(), e);
    }
  }

  public static Loaded load(byte[] file) {
    return from(SafeTensors.parse(file));
  }

  /**
   * Writes {@code parameters} atomically with {@code config} and {@code extraMetadata} (which must
   * not itself hold {@code config}) in the metadata. Non-finite weights are refused.
   */
  public static void write(Path path, Parameters parameters, Map<String, String> extraMetadata)
      throws IOException {
    encode(parameters, extraMetadata).write(path);
  }

  static SafeTensors encode(Parameters parameters, Map<String, String> extraMetadata) {
    if (extraMetadata.containsKey(CONFIG_KEY)) {
      throw new IllegalArgumentException("extra metadata must not hold '" + CONFIG_KEY + "'");
    }
    Map<String, String> metadata = new LinkedHashMap<>();
    metadata.put(CONFIG_KEY, parameters.config().toJson());
    metadata.putAll(extraMetadata);
    List<SafeTensors.Tensor> tensors = new ArrayList<>();
    for (Parameters.Tensor t : parameters.tensors()) {
      int bad = firstNonFinite(t.data());
      if (bad >= 0) {
        throw new IllegalArgumentException("refusing to write parameter '" + t.name()
            + "': element " + bad + " is " + t.data()[bad]);
      }
      tensors.add(SafeTensors.Tensor.f32(t.name(), t.shape(), t.data()));
    }
    return new SafeTensors(metadata, tensors);
  }

  private static Loaded from(SafeTensors file) {
    String json = file.metadata().get(CONFIG_KEY);
    if (json == null) {
      throw new ModelFileException("bad model file: metadata has no '" + CONFIG_KEY + "' entry");
    }
    ModelConfig config;
    try {
      config = ModelConfig.fromJson(json);
    } catch (IllegalArgumentException e) {
      throw new ModelFileException("bad model file: metadata '" + CONFIG_KEY + "' is not a valid config: "
          + e.getMessage(), e);
    }
    List<Parameters.Spec> specs = specs(config, file.tensors().size());
    Map<String, Parameters.Tensor> params = new HashMap<>();
    for (Parameters.Spec s : specs) {
      if (!file.has(s.name())) {
        throw new ModelFileException("bad model file: missing tensor '" + s.name() + "' (expected shape "
            + Arrays.toString(s.shape()) + ")");
      }
      SafeTensors.Tensor t = file.tensor(s.name());
      if (t.dtype() != SafeTensors.DType.F32) {
        throw new ModelFileException("bad model file: tensor '" + s.name() + "' has dtype " + t.dtype()
            + ", expected F32");
      }
      if (!Arrays.equals(t.shape(), s.shape())) {
        throw new ModelFileException("bad model file: tensor '" + s.name() + "' has shape "
            + Arrays.toString(t.shape()) + ", but the config implies " + Arrays.toString(s.shape()));
      }
      float[] data = t.floats();
      int bad = firstNonFinite(data);
      if (bad >= 0) {
        throw new ModelFileException("bad model file: tensor '" + s.name() + "' element " + bad + " is "
            + data[bad] + " (weights must be finite)");
      }
      params.put(s.name(), new Parameters.Tensor(s.name(), s.shape(), data));
    }
    for (SafeTensors.Tensor t : file.tensors()) {
      if (!params.containsKey(t.name())) {
        throw new ModelFileException("bad model file: unexpected tensor '" + t.name()
            + "', which the config does not have");
      }
    }
    Map<String, String> metadata = new LinkedHashMap<>(file.metadata());
    metadata.remove(CONFIG_KEY);
    return new Loaded(Parameters.of(config, params), metadata);
  }

  /**
   * The config's parameter specs, refusing configs whose sizes overflow an int and configs that
   * imply far more tensors than the file holds (which would otherwise cost memory to list).
   */
  private static List<Parameters.Spec> specs(ModelConfig c, int tensorsInFile) {
    long count = tensorCount(c);
    if (count > tensorsInFile + 64L) {
      throw new ModelFileException("bad model file: config implies " + count + " tensors, but the file holds only "
          + tensorsInFile);
    }
    long d = c.tokenDim();
    long tokens = (long) c.embeddedFields().size() + (c.numDense() > 0 ? c.denseTokens() : 0) + c.numTasks();
    long dense = c.numDense() > 0 ? c.denseTokens() * d : 0;
    long widest = Math.max(tokens * d, Math.max(dense, c.ffnMult() * d));
    if (widest > Integer.MAX_VALUE) {
      throw new ModelFileException("bad model file: config implies a dimension of " + widest + ", too large");
    }
    List<Parameters.Spec> specs = Parameters.specs(c);
    for (Parameters.Spec s : specs) {
      if (SafeTensors.elementCount(s.shape()) < 0 || SafeTensors.elementCount(s.shape()) > Integer.MAX_VALUE) {
        throw new ModelFileException("bad model file: config implies parameter '" + s.name() + "' of shape "
            + Arrays.toString(s.shape()) + ", too large");
      }
    }
    return specs;
  }

  /** {@code Parameters.specs(c).size()}, computed without listing them. */
  static long tensorCount(ModelConfig c) {
    long perLayer = Arrays.stream(Parameters.LayerTensor.values()).filter(t -> t.present(c.variant())).count();
    return c.embeddedFields().size() + (c.numDense() > 0 ? 2L : 0L) + 1 + perLayer * c.layers() + 2
        + 2L * c.numTasks() * (c.towerHidden().size() + 1);
  }

  private static int firstNonFinite(float[] data) {
    for (int i = 0; i < data.length; i++) {
      if (!Float.isFinite(data[i])) {
        return i;
      }
    }
    return -1;
  }
}
