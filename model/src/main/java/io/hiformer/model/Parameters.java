package io.hiformer.model;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Every parameter tensor of a model, by its name in docs/model.md, Parameters, in canonical order. The same
 * class holds gradients (one instance per training thread) and optimiser moments.
 *
 * <p>This is the one table of parameter names, shapes and kinds ({@link #specs}); the model, the
 * CUDA packing and the optimiser reach tensors through it, by role ({@link #layer}, {@link #embedding},
 * {@link #towerWeight}, ...) or by the names it spells ({@link #layerName}, {@link #embeddingName}, ...).
 */
public final class Parameters {

  /** One named float32 tensor; {@code data} is row-major and owned by this object. */
  public record Tensor(String name, int[] shape, float[] data) {
    public int size() {
      return data.length;
    }
  }

  /** What a tensor is to the model; decides its starting values ({@link #initialize}). */
  public enum Kind {
    /** {@code emb.<field>}: one row per id; a step reads and updates only the rows its batch uses. */
    EMBEDDING,
    /** {@code task_tokens}: one learned token per task. */
    TOKENS,
    /** A matrix the activations are multiplied by. */
    WEIGHT,
    /** Added to the activations, per-row biases ({@code ffn.b1 [R, m·d]}) included. */
    BIAS,
    /** A LayerNorm gain. */
    NORM_GAIN,
    /** A LayerNorm shift. */
    NORM_BIAS
  }

  /** A parameter's name, shape and kind, as the config implies it. */
  public record Spec(String name, int[] shape, Kind kind) {
    public int size() {
      int n = 1;
      for (int s : shape) {
        n = Math.multiplyExact(n, s);
      }
      return n;
    }

    @Override
    public String toString() {
      return name + Arrays.toString(shape);
    }
  }

  // ---- the table: every name is spelled here and nowhere else -------------------------------------

  public static final String DENSE_WEIGHT = "dense.weight";
  public static final String DENSE_BIAS = "dense.bias";
  public static final String TASK_TOKENS = "task_tokens";
  public static final String FINAL_NORM_WEIGHT = "final_ln.weight";
  public static final String FINAL_NORM_BIAS = "final_ln.bias";
  private static final String EMBEDDING_PREFIX = "emb.";

  /** {@code emb.<field>}: the embedding table of {@code field}. */
  public static String embeddingName(String field) {
    return EMBEDDING_PREFIX + field;
  }

  /** Whether {@code name} is an embedding table ({@link Kind#EMBEDDING}). */
  public static boolean isEmbedding(String name) {
    return name.startsWith(EMBEDDING_PREFIX);
  }

  /** {@code layers.<layer>.<tensor>}. */
  public static String layerName(int layer, LayerTensor tensor) {
    return "layers." + layer + "." + tensor.suffix;
  }

  /** {@code towers.<task>.<k>.weight}: layer {@code k} of task {@code task}'s tower, from 0 (on the task token) to the logit. */
  public static String towerWeightName(int task, int k) {
    return "towers." + task + "." + k + ".weight";
  }

  /** {@code towers.<task>.<k>.bias}. */
  public static String towerBiasName(int task, int k) {
    return "towers." + task + "." + k + ".bias";
  }

  /**
   * The tensors of one layer, in canonical order. The {@link ModelConfig.Variant} decides the
   * attention tensors: {@code attn.uk/vk/uv/vv} (hiformer), per-token {@code attn.wk/wv} of
   * {@code [L, d, d]} (hetero), or {@code [d, d]} {@code attn.wk/wv} and row-shared {@code wq},
   * {@code wo} and FFN tensors without the leading {@code R} (vanilla).
   */
  public enum LayerTensor {
    LN1_WEIGHT("ln1.weight", Kind.NORM_GAIN),
    LN1_BIAS("ln1.bias", Kind.NORM_BIAS),
    WQ("attn.wq", Kind.WEIGHT),
    UK("attn.uk", Kind.WEIGHT),
    VK("attn.vk", Kind.WEIGHT),
    UV("attn.uv", Kind.WEIGHT),
    VV("attn.vv", Kind.WEIGHT),
    WK("attn.wk", Kind.WEIGHT),
    WV("attn.wv", Kind.WEIGHT),
    WO("attn.wo", Kind.WEIGHT),
    LN2_WEIGHT("ln2.weight", Kind.NORM_GAIN),
    LN2_BIAS("ln2.bias", Kind.NORM_BIAS),
    FFN_W1("ffn.w1", Kind.WEIGHT),
    FFN_B1("ffn.b1", Kind.BIAS),
    FFN_W2("ffn.w2", Kind.WEIGHT),
    FFN_B2("ffn.b2", Kind.BIAS);

    private final String suffix;
    private final Kind kind;

    LayerTensor(String suffix, Kind kind) {
      this.suffix = suffix;
      this.kind = kind;
    }

    /** The name within a layer, e.g. {@code attn.wq}. */
    public String suffix() {
      return suffix;
    }

    /** Whether models of {@code variant} have this tensor. */
    public boolean present(ModelConfig.Variant variant) {
      return switch (this) {
        case UK, VK, UV, VV -> variant == ModelConfig.Variant.HIFORMER;  // composite low-rank keys and values
        case WK, WV -> variant != ModelConfig.Variant.HIFORMER;
        default -> true;
      };
    }

    /** The shape in layer {@code layer} of a model of {@code c}, which has this tensor. */
    public int[] shape(ModelConfig c, int layer) {
      int d = c.tokenDim();
      int l = c.numTokens();
      return switch (this) {
        case LN1_WEIGHT, LN1_BIAS, LN2_WEIGHT, LN2_BIAS -> new int[] {d};
        case WQ, WO -> rowShape(c, layer, d, d);
        case UK -> new int[] {l * d, c.rankK()};   // over the flattened tokens
        case VK -> new int[] {c.rankK(), l * d};
        case UV -> new int[] {l * d, c.rankV()};
        case VV -> new int[] {c.rankV(), l * d};
        // hetero: per token, all L tokens even in a pruned layer; vanilla: shared by all tokens
        case WK, WV -> c.variant() == ModelConfig.Variant.HETERO ? new int[] {l, d, d} : new int[] {d, d};
        case FFN_W1 -> rowShape(c, layer, d, c.ffnDim());
        case FFN_B1 -> rowShape(c, layer, c.ffnDim());
        case FFN_W2 -> rowShape(c, layer, c.ffnDim(), d);
        case FFN_B2 -> rowShape(c, layer, d);
      };
    }
  }

  /** The parameters a config implies, in canonical order (the order of model files we write). */
  public static List<Spec> specs(ModelConfig c) {
    int d = c.tokenDim();
    int t = c.numTasks();
    List<Spec> out = new ArrayList<>();
    for (ModelConfig.Field f : c.embeddedFields()) {
      out.add(new Spec(embeddingName(f.name()), new int[] {f.vocab(), d}, Kind.EMBEDDING));
    }
    if (c.numDense() > 0) {
      out.add(new Spec(DENSE_WEIGHT, new int[] {c.numDense(), c.denseTokens() * d}, Kind.WEIGHT));
      out.add(new Spec(DENSE_BIAS, new int[] {c.denseTokens() * d}, Kind.BIAS));
    }
    out.add(new Spec(TASK_TOKENS, new int[] {t, d}, Kind.TOKENS));
    for (int layer = 0; layer < c.layers(); layer++) {
      for (LayerTensor lt : LayerTensor.values()) {
        if (lt.present(c.variant())) {
          out.add(new Spec(layerName(layer, lt), lt.shape(c, layer), lt.kind));
        }
      }
    }
    out.add(new Spec(FINAL_NORM_WEIGHT, new int[] {d}, Kind.NORM_GAIN));
    out.add(new Spec(FINAL_NORM_BIAS, new int[] {d}, Kind.NORM_BIAS));
    int[] widths = towerWidths(c);
    for (int j = 0; j < t; j++) {
      int in = d;
      for (int k = 0; k < widths.length; k++) {
        out.add(new Spec(towerWeightName(j, k), new int[] {in, widths[k]}, Kind.WEIGHT));
        out.add(new Spec(towerBiasName(j, k), new int[] {widths[k]}, Kind.BIAS));
        in = widths[k];
      }
    }
    return out;
  }

  /** The output width of each layer of a tower: the config's hidden widths, then one logit. */
  static int[] towerWidths(ModelConfig c) {
    int[] widths = new int[c.towerHidden().size() + 1];
    for (int k = 0; k < c.towerHidden().size(); k++) {
      widths[k] = c.towerHidden().get(k);
    }
    widths[widths.length - 1] = 1;
    return widths;
  }

  /**
   * The shape of a row-wise parameter of {@code layer}: {@code [R, dims...]}, one per query row, or
   * just {@code dims} where all rows share it ({@link ModelConfig.Variant#VANILLA}).
   */
  private static int[] rowShape(ModelConfig c, int layer, int... dims) {
    if (c.variant() == ModelConfig.Variant.VANILLA) {
      return dims;
    }
    int[] shape = new int[dims.length + 1];
    shape[0] = c.rows(layer);
    System.arraycopy(dims, 0, shape, 1, dims.length);
    return shape;
  }

  // ---- an instance: the tensors -------------------------------------------------------------------

  private final ModelConfig config;
  private final Map<String, Tensor> tensors;
  // the tensors by role, resolved once so that the passes look nothing up by name
  private final float[][] embeddings;
  private final float[] denseWeight;
  private final float[] denseBias;
  private final float[] taskTokens;
  private final LayerWeights[] layers;
  private final float[] finalNormWeight;
  private final float[] finalNormBias;
  private final float[][][] towerWeights;  // [task][k]
  private final float[][][] towerBiases;

  private Parameters(ModelConfig config, Map<String, Tensor> tensors) {
    this.config = config;
    this.tensors = Collections.unmodifiableMap(tensors);
    List<ModelConfig.Field> embedded = config.embeddedFields();
    embeddings = new float[embedded.size()][];
    for (int e = 0; e < embeddings.length; e++) {
      embeddings[e] = get(embeddingName(embedded.get(e).name()));
    }
    boolean dense = config.numDense() > 0;
    denseWeight = dense ? get(DENSE_WEIGHT) : null;
    denseBias = dense ? get(DENSE_BIAS) : null;
    taskTokens = get(TASK_TOKENS);
    layers = new LayerWeights[config.layers()];
    for (int l = 0; l < layers.length; l++) {
      layers[l] = new LayerWeights(this, l);
    }
    finalNormWeight = get(FINAL_NORM_WEIGHT);
    finalNormBias = get(FINAL_NORM_BIAS);
    towerWeights = new float[config.numTasks()][config.towerHidden().size() + 1][];
    towerBiases = new float[config.numTasks()][config.towerHidden().size() + 1][];
    for (int j = 0; j < towerWeights.length; j++) {
      for (int k = 0; k < towerWeights[j].length; k++) {
        towerWeights[j][k] = get(towerWeightName(j, k));
        towerBiases[j][k] = get(towerBiasName(j, k));
      }
    }
  }

  /** All zeros: the starting point of gradients and optimiser moments. */
  public static Parameters zeros(ModelConfig config) {
    Map<String, Tensor> m = new LinkedHashMap<>();
    for (Spec s : specs(config)) {
      m.put(s.name(), new Tensor(s.name(), s.shape(), new float[s.size()]));
    }
    return new Parameters(config, m);
  }

  /**
   * A fresh model for training: Glorot-uniform matrices, small normal embeddings and task tokens,
   * LayerNorm gains of one, zero biases. The same seed gives the same parameters.
   */
  public static Parameters initialize(ModelConfig config, long seed) {
    Parameters p = zeros(config);
    SplittableRandom rnd = new SplittableRandom(seed);
    for (Spec s : specs(config)) {   // canonical order: the order the random numbers are drawn in
      float[] x = p.get(s.name());
      switch (s.kind()) {
        case NORM_GAIN -> Arrays.fill(x, 1f);
        case EMBEDDING, TOKENS -> {
          for (int i = 0; i < x.length; i++) {
            x[i] = (float) (rnd.nextGaussian() * 0.05);
          }
        }
        case WEIGHT -> {
          int fanIn = s.shape()[s.shape().length - 2];
          int fanOut = s.shape()[s.shape().length - 1];
          double limit = Math.sqrt(6.0 / (fanIn + fanOut));
          for (int i = 0; i < x.length; i++) {
            x[i] = (float) ((rnd.nextDouble() * 2 - 1) * limit);
          }
        }
        case BIAS, NORM_BIAS -> { }  // zero
      }
    }
    return p;
  }

  /** Wraps tensors read from a file; the caller has checked names and shapes against the config. */
  static Parameters of(ModelConfig config, Map<String, Tensor> tensors) {
    Map<String, Tensor> ordered = new LinkedHashMap<>();
    for (Spec s : specs(config)) {
      ordered.put(s.name(), tensors.get(s.name()));
    }
    return new Parameters(config, ordered);
  }

  // ---- the tensors by role ------------------------------------------------------------------------

  /** The embedding table of the {@code e}-th of {@link ModelConfig#embeddedFields}. */
  public float[] embedding(int e) {
    return embeddings[e];
  }

  /** {@code dense.weight}; null without dense fields. */
  public float[] denseWeight() {
    return denseWeight;
  }

  /** {@code dense.bias}; null without dense fields. */
  public float[] denseBias() {
    return denseBias;
  }

  public float[] taskTokens() {
    return taskTokens;
  }

  /** Layer {@code l}'s {@code tensor}; null where the config's variant has none. */
  public float[] layer(int l, LayerTensor tensor) {
    return tensor.present(config.variant()) ? get(layerName(l, tensor)) : null;
  }

  /** Layer {@code l}'s tensors by role, resolved once. */
  LayerWeights layer(int l) {
    return layers[l];
  }

  public float[] finalNormWeight() {
    return finalNormWeight;
  }

  public float[] finalNormBias() {
    return finalNormBias;
  }

  /** Layer {@code k} of task {@code task}'s tower: its weight {@code [in, out]}. */
  public float[] towerWeight(int task, int k) {
    return towerWeights[task][k];
  }

  public float[] towerBias(int task, int k) {
    return towerBiases[task][k];
  }

  /** The arrays of one layer's tensors (parameters, gradients or moments) by role; null where the variant has none. */
  static final class LayerWeights {
    final float[] ln1g, ln1b, wq, uk, vk, uv, vv, wk, wv, wo, ln2g, ln2b, w1, b1, w2, b2;

    private LayerWeights(Parameters p, int l) {
      ln1g = p.layer(l, LayerTensor.LN1_WEIGHT);
      ln1b = p.layer(l, LayerTensor.LN1_BIAS);
      wq = p.layer(l, LayerTensor.WQ);
      uk = p.layer(l, LayerTensor.UK);
      vk = p.layer(l, LayerTensor.VK);
      uv = p.layer(l, LayerTensor.UV);
      vv = p.layer(l, LayerTensor.VV);
      wk = p.layer(l, LayerTensor.WK);
      wv = p.layer(l, LayerTensor.WV);
      wo = p.layer(l, LayerTensor.WO);
      ln2g = p.layer(l, LayerTensor.LN2_WEIGHT);
      ln2b = p.layer(l, LayerTensor.LN2_BIAS);
      w1 = p.layer(l, LayerTensor.FFN_W1);
      b1 = p.layer(l, LayerTensor.FFN_B1);
      w2 = p.layer(l, LayerTensor.FFN_W2);
      b2 = p.layer(l, LayerTensor.FFN_B2);
    }
  }

  // ---- by name ------------------------------------------------------------------------------------

  public ModelConfig config() {
    return config;
  }

  /** The tensor's data array; throws if the config has no parameter of that name. */
  public float[] get(String name) {
    return tensor(name).data();
  }

  public Tensor tensor(String name) {
    Tensor t = tensors.get(name);
    if (t == null) {
      throw new IllegalArgumentException("no parameter named '" + name + "'");
    }
    return t;
  }

  public boolean has(String name) {
    return tensors.containsKey(name);
  }

  public Collection<Tensor> tensors() {
    return tensors.values();
  }

  public long count() {
    long n = 0;
    for (Tensor t : tensors.values()) {
      n += t.size();
    }
    return n;
  }

  public void zero() {
    for (Tensor t : tensors.values()) {
      Arrays.fill(t.data(), 0f);
    }
  }

  /** A deep copy. */
  public Parameters copy() {
    Map<String, Tensor> m = new LinkedHashMap<>();
    for (Tensor t : tensors.values()) {
      m.put(t.name(), new Tensor(t.name(), t.shape().clone(), t.data().clone()));
    }
    return new Parameters(config, m);
  }
}
