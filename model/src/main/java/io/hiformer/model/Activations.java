package io.hiformer.model;

import io.hiformer.kernels.Attention;

/**
 * Everything one forward pass of up to {@link #capacity} examples writes and its backward pass
 * reads, plus the backward pass's own buffers. Allocated once per thread and reused: the hot path
 * allocates nothing. Layouts are row-major, example-major: {@code [n, rows, width]}.
 */
public final class Activations {
  final int capacity;
  final boolean withGradients;

  final float[] tokens;        // [n, L, d]
  final Layer[] layers;
  final float[] finalLn;       // [n, T, d]
  final float[] finalMean;
  final float[] finalRstd;
  final float[][][] towers;    // [task][hidden layer] -> [n, width], after ReLU
  final float[] logits;        // [n, T]
  final float[] attnScratch;

  // backward only
  final float[] dLogits;
  final float[] dTowerA;
  final float[] dTowerB;
  final float[] dFinal;        // [n, T, d]
  final float[] dOut;          // [n, L, d] gradient of the current layer's output
  final float[] dIn;           // [n, L, d] gradient of the current layer's input
  final float[] dXp;
  final float[] dZ2;
  final float[] dHidden;
  final float[] dAttnOut;
  final float[] dQ;
  final float[] dZ1;
  final float[] dK;
  final float[] dV;
  final float[] dPk;
  final float[] dPv;

  /** One layer's saved values. */
  static final class Layer {
    final float[] z1;      // LN1 output [n, L, d]
    final float[] mean1;
    final float[] rstd1;
    final float[] q;       // [n, R, d]
    final float[] pk;      // [n, r_k] (hiformer only)
    final float[] k;       // [n, L, d]
    final float[] pv;      // [n, r_v] (hiformer only)
    final float[] v;       // [n, L, d]
    final float[] probs;   // [n, H, R, L]
    final float[] attnOut; // [n, R, d]
    final float[] xp;      // after attention and residual [n, R, d]
    final float[] z2;      // LN2 output [n, R, d]
    final float[] mean2;
    final float[] rstd2;
    final float[] hidden;  // FFN pre-activation [n, R, m·d]
    final float[] gelu;    // FFN activation [n, R, m·d]
    final float[] out;     // [n, R, d]

    Layer(ModelConfig c, int layer, int n) {
      int d = c.tokenDim();
      int l = c.numTokens();
      int r = c.rows(layer);
      z1 = new float[n * l * d];
      mean1 = new float[n * l];
      rstd1 = new float[n * l];
      q = new float[n * r * d];
      pk = new float[n * composite(c, c.rankK())];
      k = new float[n * l * d];
      pv = new float[n * composite(c, c.rankV())];
      v = new float[n * l * d];
      probs = new float[n * c.heads() * r * l];
      attnOut = new float[n * r * d];
      xp = new float[n * r * d];
      z2 = new float[n * r * d];
      mean2 = new float[n * r];
      rstd2 = new float[n * r];
      hidden = new float[n * r * c.ffnDim()];
      gelu = new float[n * r * c.ffnDim()];
      out = new float[n * r * d];
    }
  }

  /**
   * @param capacity the most examples one pass handles
   * @param withGradients whether to allocate the backward pass's buffers (training)
   */
  public Activations(ModelConfig c, int capacity, boolean withGradients) {
    if (capacity <= 0) {
      throw new IllegalArgumentException("capacity must be positive, got " + capacity);
    }
    this.capacity = capacity;
    this.withGradients = withGradients;
    int n = capacity;
    int d = c.tokenDim();
    int l = c.numTokens();
    int t = c.numTasks();
    tokens = new float[n * l * d];
    layers = new Layer[c.layers()];
    for (int i = 0; i < layers.length; i++) {
      layers[i] = new Layer(c, i, n);
    }
    finalLn = new float[n * t * d];
    finalMean = new float[n * t];
    finalRstd = new float[n * t];
    towers = new float[t][c.towerHidden().size()][];
    int widest = 1;
    for (int j = 0; j < t; j++) {
      for (int k = 0; k < c.towerHidden().size(); k++) {
        towers[j][k] = new float[n * c.towerHidden().get(k)];
        widest = Math.max(widest, c.towerHidden().get(k));
      }
    }
    widest = Math.max(widest, d);
    logits = new float[n * t];
    attnScratch = new float[Attention.scratchSize(l, l, d)];

    int g = withGradients ? 1 : 0;
    int f = c.ffnDim();
    dLogits = new float[g * n * t];
    dTowerA = new float[g * n * widest];
    dTowerB = new float[g * n * widest];
    dFinal = new float[g * n * t * d];
    dOut = new float[g * n * l * d];
    dIn = new float[g * n * l * d];
    dXp = new float[g * n * l * d];
    dZ2 = new float[g * n * l * d];
    dHidden = new float[g * n * l * f];
    dAttnOut = new float[g * n * l * d];
    dQ = new float[g * n * l * d];
    dZ1 = new float[g * n * l * d];
    dK = new float[g * n * l * d];
    dV = new float[g * n * l * d];
    dPk = new float[g * n * composite(c, c.rankK())];
    dPv = new float[g * n * composite(c, c.rankV())];
  }

  /** The rank of a composite key or value projection; other variants have none. */
  private static int composite(ModelConfig c, int rank) {
    return c.variant() == ModelConfig.Variant.HIFORMER ? rank : 0;
  }

  DropoutMasks dropout;

  /**
   * Turns dropout on for the training passes that use these activations; {@link Dropout#NONE}
   * turns it off. Masks are drawn anew each forward pass from {@link #seedDropout}'s seed.
   */
  public void setDropout(ModelConfig config, Dropout rates) {
    if (!withGradients && rates.any()) {
      throw new IllegalStateException("dropout is for training: allocate the activations with gradients");
    }
    dropout = rates.any() ? new DropoutMasks(config, capacity, rates) : null;
  }

  /** Seeds the next forward pass's dropout masks, so that a pass can be repeated exactly. */
  public void seedDropout(long seed) {
    if (dropout != null) {
      dropout.reseed(seed);
    }
  }

  public int capacity() {
    return capacity;
  }

  /** The logits of the last forward pass, {@code [n, T]}. */
  public float[] logits() {
    return logits;
  }

  /** The token matrix of the last forward pass, {@code [n, L, d]}. */
  public float[] tokens() {
    return tokens;
  }

  /** Layer {@code l}'s output of the last forward pass, {@code [n, R, d]}. */
  public float[] layerOutput(int l) {
    return layers[l].out;
  }
}
