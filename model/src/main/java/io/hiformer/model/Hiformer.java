package io.hiformer.model;

import io.hiformer.kernels.Attention;
import io.hiformer.kernels.CpuKernels;
import io.hiformer.model.Parameters.LayerWeights;
import java.util.Arrays;

/**
 * The Hiformer model of docs/model.md: a forward pass shared by serving and training, and the backward
 * pass for every parameter, side by side. Stateless apart from the parameters it reads, so one
 * instance serves many threads, each with its own {@link Activations}.
 *
 * <p>The config's {@link ModelConfig.Variant} picks the attention layer: {@code hiformer}
 * (composite low-rank keys and values), {@code hetero} (per-token key and value projections) or
 * {@code vanilla} (every projection and the FFN shared by all rows). They differ only in
 * {@link #keysValues} and in whether {@link #linear} uses one weight per row or one for all.
 *
 * <p>Both passes work on a tile: examples {@code [from, from + n)} of a {@link Batch}, with
 * {@code n <= activations.capacity()}. Nothing is allocated per call.
 */
public final class Hiformer {
  private final ModelConfig config;
  private final Parameters params;
  private final CpuKernels kern;

  // shapes
  private final int d;
  private final int heads;
  private final int dh;
  private final int tokens;
  private final int tasks;
  private final int ffn;
  private final int rankK;
  private final int rankV;
  private final ModelConfig.Variant variant;
  /** Vanilla: one set of projection and FFN weights shared by all rows, instead of one per row. */
  private final boolean shared;
  private final int numCategorical;
  private final int numBag;
  private final int numDense;
  private final int denseTokens;
  private final int denseTokenStart;
  private final int taskTokenStart;
  /** {@link ModelConfig#embeddedSlots}. */
  private final int[] embeddedSlot;
  private final int[] towerWidths;
  private final int layers;
  /** R per layer: config.rows() builds lists, so it is read once here, off the hot path. */
  private final int[] rows;

  public Hiformer(Parameters params, CpuKernels kernels) {
    this.config = params.config();
    this.params = params;
    this.kern = kernels;
    ModelConfig c = config;
    d = c.tokenDim();
    heads = c.heads();
    dh = c.headDim();
    tokens = c.numTokens();
    tasks = c.numTasks();
    ffn = c.ffnDim();
    rankK = c.rankK();
    rankV = c.rankV();
    variant = c.variant();
    shared = variant == ModelConfig.Variant.VANILLA;
    numCategorical = c.categoricalFields().size();
    numBag = c.bagFields().size();
    numDense = c.numDense();
    denseTokens = c.effectiveDenseTokens();
    denseTokenStart = c.embeddedFields().size();
    taskTokenStart = denseTokenStart + denseTokens;
    embeddedSlot = c.embeddedSlots();
    layers = c.layers();
    rows = new int[layers];
    for (int l = 0; l < layers; l++) {
      rows[l] = c.rows(l);
    }
    towerWidths = Parameters.towerWidths(c);
  }

  public ModelConfig config() {
    return config;
  }

  public Parameters parameters() {
    return params;
  }

  public CpuKernels kernels() {
    return kern;
  }

  // =============================================================================================
  // Forward
  // =============================================================================================

  /** Runs examples {@code [from, from+n)} of {@code batch}; logits land in {@code act.logits()}. */
  public void forward(Batch batch, int from, int n, Activations act) {
    checkTile(batch, from, n, act);
    batch.validate(from, n);
    embedTokens(batch, from, n, act.tokens);
    DropoutMasks drop = act.dropout;
    if (drop != null && drop.rates.tokens() > 0) {
      drop.drawAndApplyRows(drop.tokens, drop.rates.tokens(), act.tokens, n, taskTokenStart, tokens, d);
    }
    float[] x = act.tokens;
    for (int l = 0; l < layers; l++) {
      layerForward(l, x, n, act.layers[l], act.attnScratch, drop);
      x = act.layers[l].out;
    }
    headsForward(x, rows[layers - 1], n, act);
  }

  private void checkTile(Batch batch, int from, int n, Activations act) {
    if (from < 0 || n < 0 || from + n > batch.size()) {
      throw new IllegalArgumentException("tile [" + from + ", " + (from + n) + ") outside batch of " + batch.size());
    }
    if (n > act.capacity) {
      throw new IllegalArgumentException("tile of " + n + " exceeds activations capacity " + act.capacity);
    }
  }

  /** docs/model.md, Tokens: field embeddings (bags averaged), dense tokens, task tokens. */
  private void embedTokens(Batch batch, int from, int n, float[] out) {
    int ld = tokens * d;
    for (int e = 0; e < embeddedSlot.length; e++) {
      float[] table = params.embedding(e);
      int slot = embeddedSlot[e];
      if (slot >= 0) {
        kern.gatherRows(n, batch.categorical, from * numCategorical + slot, numCategorical, table, d, out, e * d, ld);
      } else {
        int k = -1 - slot;
        for (int b = 0; b < n; b++) {
          int o = b * ld + e * d;
          Arrays.fill(out, o, o + d, 0f);
          int start = batch.bagOffsets[(from + b) * numBag + k];
          int end = batch.bagOffsets[(from + b) * numBag + k + 1];
          float inv = 1f / Math.max(1, end - start);
          for (int p = start; p < end; p++) {
            kern.axpy(d, inv, table, batch.bagIds[p] * d, out, o);
          }
        }
      }
    }
    if (denseTokens > 0) {
      int off = denseTokenStart * d;
      kern.gemm(n, denseTokens * d, numDense, batch.dense, from * numDense, numDense,
          params.denseWeight(), 0, denseTokens * d, out, off, ld, false);
      kern.addRowVector(n, denseTokens * d, params.denseBias(), 0, out, off, ld);
    }
    float[] taskTokens = params.taskTokens();
    for (int b = 0; b < n; b++) {
      System.arraycopy(taskTokens, 0, out, b * ld + taskTokenStart * d, tasks * d);
    }
  }

  /** docs/model.md, Layer: one pre-norm layer; {@code x} is {@code [n, L, d]}, the output {@code [n, R, d]}. */
  private void layerForward(int l, float[] x, int n, Activations.Layer a, float[] scratch, DropoutMasks drop) {
    LayerWeights w = params.layer(l);
    int r = rows[l];
    int s = tokens - r;  // the first query row: the task tokens when pruned
    int ld = tokens * d;
    int f = ffn;

    kern.layerNorm(n * tokens, d, x, 0, d, w.ln1g, 0, w.ln1b, 0, a.z1, 0, d, a.mean1, a.rstd1, 0);
    // queries of rows s.. (each token row its own [d, d], or one shared)
    linear(n, r, d, d, a.z1, s * d, ld, w.wq, null, a.q, 0, r * d, false);
    keysValues(w, n, a);
    for (int b = 0; b < n; b++) {
      Attention.forward(kern, r, tokens, heads, dh, a.q, b * r * d, a.k, b * ld, a.v, b * ld,
          a.probs, b * heads * r * tokens, a.attnOut, b * r * d, scratch);
      System.arraycopy(x, b * ld + s * d, a.xp, b * r * d, r * d);   // residual
    }
    if (drop != null && drop.rates.attention() > 0) {
      drop.drawAndApply(drop.attention[l], drop.rates.attention(), a.attnOut, 0, n * r * d);
    }
    linear(n, r, d, d, a.attnOut, 0, r * d, w.wo, null, a.xp, 0, r * d, true);
    kern.layerNorm(n * r, d, a.xp, 0, d, w.ln2g, 0, w.ln2b, 0, a.z2, 0, d, a.mean2, a.rstd2, 0);
    linear(n, r, d, f, a.z2, 0, r * d, w.w1, w.b1, a.hidden, 0, r * f, false);
    kern.gelu(n * r * f, a.hidden, 0, a.gelu, 0);
    if (drop != null && drop.rates.ffn() > 0) {
      drop.drawAndApply(drop.ffn[l], drop.rates.ffn(), a.gelu, 0, n * r * f);
    }
    System.arraycopy(a.xp, 0, a.out, 0, n * r * d);                    // residual
    linear(n, r, f, d, a.gelu, 0, r * f, w.w2, w.b2, a.out, 0, r * d, true);
  }

  /** Keys and values {@code [n, L, d]} of all L tokens from {@code a.z1}, as the variant computes them. */
  private void keysValues(LayerWeights w, int n, Activations.Layer a) {
    int ld = tokens * d;
    if (variant == ModelConfig.Variant.HIFORMER) {
      // composite low-rank keys and values over the flattened token matrix
      kern.gemm(n, rankK, ld, a.z1, 0, ld, w.uk, 0, rankK, a.pk, 0, rankK, false);
      kern.gemm(n, ld, rankK, a.pk, 0, rankK, w.vk, 0, ld, a.k, 0, ld, false);
      kern.gemm(n, rankV, ld, a.z1, 0, ld, w.uv, 0, rankV, a.pv, 0, rankV, false);
      kern.gemm(n, ld, rankV, a.pv, 0, rankV, w.vv, 0, ld, a.v, 0, ld, false);
    } else {
      // hetero: K_i = Z_i·wk[i] per token; vanilla: one shared wk (and likewise V)
      linear(n, tokens, d, d, a.z1, 0, ld, w.wk, null, a.k, 0, ld, false);
      linear(n, tokens, d, d, a.z1, 0, ld, w.wv, null, a.v, 0, ld, false);
    }
  }

  /**
   * Row-wise projection of {@code r} rows per example:
   * {@code y[b, i] = (accumulate ? y[b, i] : 0) + x[b, i]·W_i + bias_i} for {@code b < n, i < r}, where
   * {@code x[b, i]} is at {@code xOff + b·ldx + i·in}, {@code y[b, i]} at {@code yOff + b·ldy + i·out},
   * and {@code W_i} is {@code w}'s i-th {@code [in, out]} matrix (per-row weights), or {@code w}
   * itself when weights are {@link #shared}; likewise {@code bias_i}. {@code bias} may be null.
   */
  private void linear(int n, int r, int in, int out, float[] x, int xOff, int ldx, float[] w, float[] bias,
      float[] y, int yOff, int ldy, boolean accumulate) {
    if (!shared) {
      for (int i = 0; i < r; i++) {
        kern.gemm(n, out, in, x, xOff + i * in, ldx, w, i * in * out, out, y, yOff + i * out, ldy, accumulate);
        if (bias != null) {
          kern.addRowVector(n, out, bias, i * out, y, yOff + i * out, ldy);
        }
      }
    } else if (ldx == r * in && ldy == r * out) {   // rows contiguous: one gemm over n·r rows
      kern.gemm(n * r, out, in, x, xOff, in, w, 0, out, y, yOff, out, accumulate);
      if (bias != null) {
        kern.addRowVector(n * r, out, bias, 0, y, yOff, out);
      }
    } else {                                        // e.g. the task-token rows of a pruned layer
      for (int b = 0; b < n; b++) {
        kern.gemm(r, out, in, x, xOff + b * ldx, in, w, 0, out, y, yOff + b * ldy, out, accumulate);
        if (bias != null) {
          kern.addRowVector(r, out, bias, 0, y, yOff + b * ldy, out);
        }
      }
    }
  }

  /** docs/model.md, Heads and loss: final LayerNorm of each task token, then its tower. */
  private void headsForward(float[] last, int r, int n, Activations act) {
    float[] g = params.finalNormWeight();
    float[] bta = params.finalNormBias();
    for (int b = 0; b < n; b++) {
      kern.layerNorm(tasks, d, last, (b * r + r - tasks) * d, d, g, 0, bta, 0,
          act.finalLn, b * tasks * d, d, act.finalMean, act.finalRstd, b * tasks);
    }
    for (int j = 0; j < tasks; j++) {
      float[] in = act.finalLn;
      int inOff = j * d;
      int ldIn = tasks * d;
      int width = d;
      for (int k = 0; k < towerWidths.length; k++) {
        float[] wt = params.towerWeight(j, k);
        float[] bias = params.towerBias(j, k);
        int out = towerWidths[k];
        if (k < towerWidths.length - 1) {
          float[] y = act.towers[j][k];
          kern.gemm(n, out, width, in, inOff, ldIn, wt, 0, out, y, 0, out, false);
          kern.addRowVector(n, out, bias, 0, y, 0, out);
          kern.relu(n * out, y, 0);
          if (act.dropout != null && act.dropout.rates.towers() > 0) {
            act.dropout.drawAndApply(act.dropout.towers[j][k], act.dropout.rates.towers(), y, 0, n * out);
          }
          in = y;
          inOff = 0;
          ldIn = out;
        } else {
          kern.gemm(n, 1, width, in, inOff, ldIn, wt, 0, 1, act.logits, j, tasks, false);
          kern.addRowVector(n, 1, bias, 0, act.logits, j, tasks);
        }
        width = out;
      }
    }
  }

  // =============================================================================================
  // Loss
  // =============================================================================================

  /**
   * The loss (docs/model.md, Heads and loss) summed over the tile, {@code Σ_b Σ_j mask·BCEWithLogits / batchSize}, after
   * {@link #forward}. Summing the tiles of a batch gives the batch loss.
   */
  public double loss(Batch batch, int from, int n, Activations act, int batchSize) {
    double sum = 0;
    for (int b = 0; b < n; b++) {
      for (int j = 0; j < tasks; j++) {
        double m = batch.labelMask(from + b, j);
        if (m != 0) {
          double z = act.logits[b * tasks + j];
          double y = batch.label(from + b, j);
          sum += m * (Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z))));
        }
      }
    }
    return sum / batchSize;
  }

  // =============================================================================================
  // Backward
  // =============================================================================================

  /**
   * Adds d loss / d parameter for examples {@code [from, from+n)} into {@code grads}, after
   * {@link #forward} of the same tile into {@code act}. {@code batchSize} is the B that the loss
   * divides by (the whole batch, of which this tile may be a part).
   */
  public void backward(Batch batch, int from, int n, Activations act, Parameters grads, int batchSize) {
    if (!act.withGradients) {
      throw new IllegalArgumentException("activations were allocated without gradient buffers");
    }
    checkTile(batch, from, n, act);
    // d loss / d logit = mask · (sigmoid(z) - y) / B
    for (int b = 0; b < n; b++) {
      for (int j = 0; j < tasks; j++) {
        float z = act.logits[b * tasks + j];
        float p = (float) (1.0 / (1.0 + Math.exp(-z)));
        act.dLogits[b * tasks + j] = batch.labelMask(from + b, j) * (p - batch.label(from + b, j)) / batchSize;
      }
    }
    int lastRows = rows[layers - 1];
    float[] dOut = act.dOut;
    float[] dIn = act.dIn;
    headsBackward(act.layers[layers - 1].out, lastRows, n, act, grads, dOut);
    for (int l = layers - 1; l >= 0; l--) {
      float[] x = l == 0 ? act.tokens : act.layers[l - 1].out;
      layerBackward(l, x, n, act.layers[l], act, grads, dOut, dIn);
      float[] t = dOut;
      dOut = dIn;
      dIn = t;
    }
    if (act.dropout != null && act.dropout.rates.tokens() > 0) {
      DropoutMasks.apply(act.dropout.tokens, dOut, 0, n * tokens * d);
    }
    embedBackward(batch, from, n, dOut, grads);
  }

  /**
   * After {@link #backward} of {@code n} examples: the gradient of each embedded field's pooled
   * vector (a bag's average), {@code [n][nemb][d]}, the embedded fields being the first tokens. For
   * trainers that update the tables themselves (the GPU's).
   */
  public void embeddingGradients(Activations act, int n, float[] out) {
    int ld = tokens * d;
    int row = embeddedSlot.length * d;
    for (int b = 0; b < n; b++) {
      System.arraycopy(act.dOut, b * ld, out, b * row, row);
    }
  }

  /** Towers and final LayerNorm, backwards; writes the last layer's output gradient {@code [n, R, d]}. */
  private void headsBackward(float[] last, int r, int n, Activations act, Parameters grads, float[] dLast) {
    for (int j = 0; j < tasks; j++) {
      float[] dy = act.dLogits;
      int dyOff = j;
      int ldDy = tasks;
      for (int k = towerWidths.length - 1; k >= 0; k--) {
        int out = towerWidths[k];
        int in = k == 0 ? d : towerWidths[k - 1];
        float[] x = k == 0 ? act.finalLn : act.towers[j][k - 1];
        int xOff = k == 0 ? j * d : 0;
        int ldx = k == 0 ? tasks * d : in;
        kern.gemmTN(in, out, n, x, xOff, ldx, dy, dyOff, ldDy, grads.towerWeight(j, k), 0, out);
        kern.sumRows(n, out, dy, dyOff, ldDy, grads.towerBias(j, k), 0);
        float[] dx = k == 0 ? act.dFinal : dy == act.dTowerA ? act.dTowerB : act.dTowerA;
        kern.gemmNT(n, in, out, dy, dyOff, ldDy, params.towerWeight(j, k), 0, out, dx, xOff, ldx, false);
        if (k > 0) {
          if (act.dropout != null && act.dropout.rates.towers() > 0) {
            DropoutMasks.apply(act.dropout.towers[j][k - 1], dx, 0, n * in);
          }
          kern.reluBackward(n * in, x, 0, dx, 0);
        }
        dy = dx;
        dyOff = 0;
        ldDy = in;
      }
    }
    Arrays.fill(dLast, 0, n * r * d, 0f);
    float[] g = params.finalNormWeight();
    for (int b = 0; b < n; b++) {
      int row = (b * r + r - tasks) * d;
      kern.layerNormBackward(tasks, d, act.dFinal, b * tasks * d, d, last, row, d, g, 0,
          act.finalMean, act.finalRstd, b * tasks, dLast, row, d,
          grads.finalNormWeight(), grads.finalNormBias(), 0);
    }
  }

  /** One layer backwards: from {@code dOut [n, R, d]} to {@code dX [n, L, d]}, adding parameter gradients. */
  private void layerBackward(int l, float[] x, int n, Activations.Layer a, Activations act, Parameters grads,
      float[] dOut, float[] dX) {
    LayerWeights w = params.layer(l);
    LayerWeights gw = grads.layer(l);
    int r = rows[l];
    int s = tokens - r;
    int ld = tokens * d;
    int f = ffn;
    float[] dH = act.dHidden;

    // FFN: out = xp + GELU(LN2(xp)·w1 + b1)·w2 + b2
    linearBackward(n, r, f, d, a.gelu, 0, r * f, dOut, 0, r * d, w.w2, gw.w2, gw.b2, dH, 0, r * f, false);
    if (act.dropout != null && act.dropout.rates.ffn() > 0) {
      DropoutMasks.apply(act.dropout.ffn[l], dH, 0, n * r * f);
    }
    kern.geluBackward(n * r * f, a.hidden, 0, dH, 0, dH, 0);
    linearBackward(n, r, d, f, a.z2, 0, r * d, dH, 0, r * f, w.w1, gw.w1, gw.b1, act.dZ2, 0, r * d, false);
    System.arraycopy(dOut, 0, act.dXp, 0, n * r * d);
    kern.layerNormBackward(n * r, d, act.dZ2, 0, d, a.xp, 0, d, w.ln2g, 0, a.mean2, a.rstd2, 0,
        act.dXp, 0, d, gw.ln2g, gw.ln2b, 0);

    // attention output projection and residual: xp = x[s..] + attnOut·wo
    linearBackward(n, r, d, d, a.attnOut, 0, r * d, act.dXp, 0, r * d, w.wo, gw.wo, null,
        act.dAttnOut, 0, r * d, false);
    if (act.dropout != null && act.dropout.rates.attention() > 0) {
      DropoutMasks.apply(act.dropout.attention[l], act.dAttnOut, 0, n * r * d);
    }
    Arrays.fill(act.dK, 0, n * ld, 0f);
    Arrays.fill(act.dV, 0, n * ld, 0f);
    for (int b = 0; b < n; b++) {
      Arrays.fill(dX, b * ld, b * ld + s * d, 0f);
      System.arraycopy(act.dXp, b * r * d, dX, b * ld + s * d, r * d);
      Attention.backward(kern, r, tokens, heads, dh, a.q, b * r * d, a.k, b * ld, a.v, b * ld,
          a.probs, b * heads * r * tokens, act.dAttnOut, b * r * d,
          act.dQ, b * r * d, act.dK, b * ld, act.dV, b * ld, act.attnScratch);
    }

    keysValuesBackward(w, gw, n, a, act);   // writes dZ1

    // queries of rows s..
    linearBackward(n, r, d, d, a.z1, s * d, ld, act.dQ, 0, r * d, w.wq, gw.wq, null, act.dZ1, s * d, ld, true);
    kern.layerNormBackward(n * tokens, d, act.dZ1, 0, d, x, 0, d, w.ln1g, 0, a.mean1, a.rstd1, 0,
        dX, 0, d, gw.ln1g, gw.ln1b, 0);
  }

  /** Backward of {@link #keysValues}: from {@code act.dK}, {@code act.dV} to {@code act.dZ1} (overwritten). */
  private void keysValuesBackward(LayerWeights w, LayerWeights gw, int n, Activations.Layer a, Activations act) {
    int ld = tokens * d;
    if (variant == ModelConfig.Variant.HIFORMER) {
      // composite low-rank keys and values: k = (z·uk)·vk, v = (z·uv)·vv
      kern.gemmTN(rankK, ld, n, a.pk, 0, rankK, act.dK, 0, ld, gw.vk, 0, ld);
      kern.gemmNT(n, rankK, ld, act.dK, 0, ld, w.vk, 0, ld, act.dPk, 0, rankK, false);
      kern.gemmTN(ld, rankK, n, a.z1, 0, ld, act.dPk, 0, rankK, gw.uk, 0, rankK);
      kern.gemmNT(n, ld, rankK, act.dPk, 0, rankK, w.uk, 0, rankK, act.dZ1, 0, ld, false);
      kern.gemmTN(rankV, ld, n, a.pv, 0, rankV, act.dV, 0, ld, gw.vv, 0, ld);
      kern.gemmNT(n, rankV, ld, act.dV, 0, ld, w.vv, 0, ld, act.dPv, 0, rankV, false);
      kern.gemmTN(ld, rankV, n, a.z1, 0, ld, act.dPv, 0, rankV, gw.uv, 0, rankV);
      kern.gemmNT(n, ld, rankV, act.dPv, 0, rankV, w.uv, 0, rankV, act.dZ1, 0, ld, true);
    } else {
      linearBackward(n, tokens, d, d, a.z1, 0, ld, act.dK, 0, ld, w.wk, gw.wk, null, act.dZ1, 0, ld, false);
      linearBackward(n, tokens, d, d, a.z1, 0, ld, act.dV, 0, ld, w.wv, gw.wv, null, act.dZ1, 0, ld, true);
    }
  }

  /**
   * Backward of {@link #linear}: given {@code dy}, adds the weight gradient into {@code gw} and the
   * bias gradient into {@code gb} (may be null), and writes (or, with {@code accumulate}, adds) the
   * input gradient into {@code dx}, which is laid out like {@code x}.
   */
  private void linearBackward(int n, int r, int in, int out, float[] x, int xOff, int ldx,
      float[] dy, int dyOff, int ldy, float[] w, float[] gw, float[] gb, float[] dx, int dxOff, int lddx,
      boolean accumulate) {
    if (!shared) {
      for (int i = 0; i < r; i++) {
        kern.gemmTN(in, out, n, x, xOff + i * in, ldx, dy, dyOff + i * out, ldy, gw, i * in * out, out);
        if (gb != null) {
          kern.sumRows(n, out, dy, dyOff + i * out, ldy, gb, i * out);
        }
        kern.gemmNT(n, in, out, dy, dyOff + i * out, ldy, w, i * in * out, out, dx, dxOff + i * in, lddx, accumulate);
      }
    } else if (ldx == r * in && ldy == r * out && lddx == r * in) {   // rows contiguous: n·r rows at once
      kern.gemmTN(in, out, n * r, x, xOff, in, dy, dyOff, out, gw, 0, out);
      if (gb != null) {
        kern.sumRows(n * r, out, dy, dyOff, out, gb, 0);
      }
      kern.gemmNT(n * r, in, out, dy, dyOff, out, w, 0, out, dx, dxOff, in, accumulate);
    } else {
      for (int b = 0; b < n; b++) {
        kern.gemmTN(in, out, r, x, xOff + b * ldx, in, dy, dyOff + b * ldy, out, gw, 0, out);
        if (gb != null) {
          kern.sumRows(r, out, dy, dyOff + b * ldy, out, gb, 0);
        }
        kern.gemmNT(r, in, out, dy, dyOff + b * ldy, out, w, 0, out, dx, dxOff + b * lddx, in, accumulate);
      }
    }
  }

  /** Token gradients into embedding rows, the dense projection and the task tokens. */
  private void embedBackward(Batch batch, int from, int n, float[] dTokens, Parameters grads) {
    int ld = tokens * d;
    for (int e = 0; e < embeddedSlot.length; e++) {
      float[] dTable = grads.embedding(e);
      int slot = embeddedSlot[e];
      if (slot >= 0) {
        kern.scatterAddRows(n, batch.categorical, from * numCategorical + slot, numCategorical,
            dTokens, e * d, ld, 1f, dTable, d);
      } else {
        int k = -1 - slot;
        for (int b = 0; b < n; b++) {
          int start = batch.bagOffsets[(from + b) * numBag + k];
          int end = batch.bagOffsets[(from + b) * numBag + k + 1];
          if (end > start) {
            kern.scatterAddRows(end - start, batch.bagIds, start, 1, dTokens, b * ld + e * d, 0,
                1f / (end - start), dTable, d);
          }
        }
      }
    }
    if (denseTokens > 0) {
      int off = denseTokenStart * d;
      kern.gemmTN(numDense, denseTokens * d, n, batch.dense, from * numDense, numDense,
          dTokens, off, ld, grads.denseWeight(), 0, denseTokens * d);
      kern.sumRows(n, denseTokens * d, dTokens, off, ld, grads.denseBias(), 0);
    }
    kern.sumRows(n, tasks * d, dTokens, taskTokenStart * d, ld, grads.taskTokens(), 0);
  }
}
