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
 */
public final class Parameters {

  /** One named float32 tensor; {@code data} is row-major and owned by this object. */
  public record Tensor(String name, int[] shape, float[] data) {
    public int size() {
      return data.length;
    }
  }

  /** A parameter's name and shape, as the config implies it. */
  public record Spec(String name, int[] shape) {
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

  private final ModelConfig config;
  private final Map<String, Tensor> tensors;

  private Parameters(ModelConfig config, Map<String, Tensor> tensors) {
    this.config = config;
    this.tensors = Collections.unmodifiableMap(tensors);
  }

  /**
   * The parameters a config implies, in canonical order (the order of model files we write). The
   * {@link ModelConfig.Variant} decides the attention tensors: {@code attn.uk/vk/uv/vv} (hiformer),
   * per-token {@code attn.wk/wv} of {@code [L, d, d]} (hetero), or {@code [d, d]} {@code attn.wk/wv}
   * and row-shared {@code wq}, {@code wo} and FFN tensors without the leading {@code R} (vanilla).
   */
  public static List<Spec> specs(ModelConfig c) {
    int d = c.tokenDim();
    int l = c.numTokens();
    int t = c.numTasks();
    List<Spec> out = new ArrayList<>();
    for (ModelConfig.Field f : c.embeddedFields()) {
      out.add(new Spec("emb." + f.name(), new int[] {f.vocab(), d}));
    }
    if (c.numDense() > 0) {
      out.add(new Spec("dense.weight", new int[] {c.numDense(), c.denseTokens() * d}));
      out.add(new Spec("dense.bias", new int[] {c.denseTokens() * d}));
    }
    out.add(new Spec("task_tokens", new int[] {t, d}));
    for (int layer = 0; layer < c.layers(); layer++) {
      String p = "layers." + layer + ".";
      out.add(new Spec(p + "ln1.weight", new int[] {d}));
      out.add(new Spec(p + "ln1.bias", new int[] {d}));
      out.add(new Spec(p + "attn.wq", rowShape(c, layer, d, d)));
      switch (c.variant()) {
        case HIFORMER -> {   // composite low-rank keys and values over the flattened tokens
          out.add(new Spec(p + "attn.uk", new int[] {l * d, c.rankK()}));
          out.add(new Spec(p + "attn.vk", new int[] {c.rankK(), l * d}));
          out.add(new Spec(p + "attn.uv", new int[] {l * d, c.rankV()}));
          out.add(new Spec(p + "attn.vv", new int[] {c.rankV(), l * d}));
        }
        case HETERO -> {     // per-token keys and values: all L tokens, even in a pruned layer
          out.add(new Spec(p + "attn.wk", new int[] {l, d, d}));
          out.add(new Spec(p + "attn.wv", new int[] {l, d, d}));
        }
        case VANILLA -> {    // shared by all tokens
          out.add(new Spec(p + "attn.wk", new int[] {d, d}));
          out.add(new Spec(p + "attn.wv", new int[] {d, d}));
        }
      }
      out.add(new Spec(p + "attn.wo", rowShape(c, layer, d, d)));
      out.add(new Spec(p + "ln2.weight", new int[] {d}));
      out.add(new Spec(p + "ln2.bias", new int[] {d}));
      out.add(new Spec(p + "ffn.w1", rowShape(c, layer, d, c.ffnDim())));
      out.add(new Spec(p + "ffn.b1", rowShape(c, layer, c.ffnDim())));
      out.add(new Spec(p + "ffn.w2", rowShape(c, layer, c.ffnDim(), d)));
      out.add(new Spec(p + "ffn.b2", rowShape(c, layer, d)));
    }
    out.add(new Spec("final_ln.weight", new int[] {d}));
    out.add(new Spec("final_ln.bias", new int[] {d}));
    for (int j = 0; j < t; j++) {
      int in = d;
      List<Integer> widths = new ArrayList<>(c.towerHidden());
      widths.add(1);
      for (int k = 0; k < widths.size(); k++) {
        out.add(new Spec("towers." + j + "." + k + ".weight", new int[] {in, widths.get(k)}));
        out.add(new Spec("towers." + j + "." + k + ".bias", new int[] {widths.get(k)}));
        in = widths.get(k);
      }
    }
    return out;
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
    for (Tensor t : p.tensors.values()) {
      String n = t.name();
      float[] x = t.data();
      if (n.endsWith("ln1.weight") || n.endsWith("ln2.weight") || n.equals("final_ln.weight")) {
        Arrays.fill(x, 1f);
      } else if (n.startsWith("emb.") || n.equals("task_tokens")) {
        for (int i = 0; i < x.length; i++) {
          x[i] = (float) (rnd.nextGaussian() * 0.05);
        }
      } else if (t.shape().length >= 2 && !isBias(n)) {
        int fanIn = t.shape()[t.shape().length - 2];
        int fanOut = t.shape()[t.shape().length - 1];
        double limit = Math.sqrt(6.0 / (fanIn + fanOut));
        for (int i = 0; i < x.length; i++) {
          x[i] = (float) ((rnd.nextDouble() * 2 - 1) * limit);
        }
      }
    }
    return p;
  }

  /** Biases, per-row ones ({@code ffn.b1 [R, m·d]}) included, start at zero. */
  private static boolean isBias(String name) {
    return name.endsWith(".bias") || name.endsWith(".b1") || name.endsWith(".b2");
  }

  /** Wraps tensors read from a file; the caller has checked names and shapes against the config. */
  static Parameters of(ModelConfig config, Map<String, Tensor> tensors) {
    Map<String, Tensor> ordered = new LinkedHashMap<>();
    for (Spec s : specs(config)) {
      ordered.put(s.name(), tensors.get(s.name()));
    }
    return new Parameters(config, ordered);
  }

  private Hiformer.LayerWeights[] layerViews;

  /** Layer {@code l}'s tensors by role, resolved once; used for gradient accumulation. */
  Hiformer.LayerWeights layerView(int l) {
    if (layerViews == null) {
      Hiformer.LayerWeights[] views = new Hiformer.LayerWeights[config.layers()];
      for (int i = 0; i < views.length; i++) {
        views[i] = new Hiformer.LayerWeights(this, i);
      }
      layerViews = views;
    }
    return layerViews[l];
  }

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
