package io.hiformer.kernels.cuda;

import java.util.ArrayList;
import java.util.List;
import java.util.function.ToIntFunction;

/**
 * Where every weight of a {@link FusedShape} lives in the fused kernel's one weights buffer, and in
 * which order: the host side of {@code hiformer.cu}. Dimensions are padded with zeros (token
 * features to W = 16, 32 or 64; each head to a multiple of 8; ranks and the FFN width to multiples
 * of 16), and matrices the tensor cores read are stored in fragment order, so each lane of a warp
 * loads its operand for two mma k-steps with one 16-byte load. For {@link Precision#FP32} they stay
 * plain fp32 (the kernel splits each into a tf32 head and tail: 3xTF32); for {@link Precision#TF32}
 * they are rounded to tf32.
 *
 * <p>Usage: {@link #unsupported} first; then fill a {@code float[size()]} with the {@code pack}
 * methods, one per parameter role, and upload it with {@link #descriptor()}.
 */
public final class FusedLayout {
  // descriptor slots, as in hiformer.cu
  static final int D_D = 0, D_W = 1, D_HEADS = 2, D_DH = 3, D_DHP = 4, D_L = 5, D_T = 6, D_LAYERS = 7,
      D_RKP = 8, D_RVP = 9, D_FP = 10, D_NEMB = 11, D_NCAT = 12, D_NBAG = 13, D_NDENSE = 14, D_DT = 15,
      D_TDEPTH = 16, D_TWMAX = 17, D_DENSE_W = 18, D_DENSE_B = 19, D_TASK = 20, D_FINAL_G = 21, D_FINAL_B = 22,
      D_SCALE = 23, D_LAYER_BASE = 24, D_FIELD_BASE = 25, D_TOWER_BASE = 26, D_HEADER = 32;
  static final int L_R = 0, L_LN1G = 1, L_LN1B = 2, L_WQ = 3, L_UCAT = 4, L_VK = 5, L_VV = 6, L_WO = 7,
      L_LN2G = 8, L_LN2B = 9, L_W1 = 10, L_B1 = 11, L_W2 = 12, L_B2 = 13, L_STRIDE = 16;

  /** The most tokens the attention keeps in registers. */
  static final int MAX_TOKENS = 32;
  /** Shared memory one block may use on compute capability 9.0 (227 KiB). */
  static final int MAX_SHARED_BYTES = 232_448;
  /** Shared memory of one multiprocessor (228 KiB), of which the driver keeps 1 KiB per block. */
  static final int SM_SHARED_BYTES = 233_472;
  static final int RESERVED_SHARED_BYTES = 1024;

  /**
   * One compiled kernel: examples per block, padded width, blocks per cluster, the blocks per
   * multiprocessor it was compiled for (2 caps it at 128 registers a thread) and the precision
   * (the entries of {@code HF_KERNELS} in hiformer.cu).
   */
  public record Variant(int examples, int width, int cluster, int blocks, Precision precision) {
    String kernelName() {
      return "hiformer_e" + examples + "_w" + width + "_c" + cluster + "_p" + precision.passes + "_b" + blocks;
    }

    @Override
    public String toString() {
      return examples + "x" + cluster + "/b" + blocks + (precision == Precision.FP32 ? " fp32" : " tf32");
    }
  }

  /** Every kernel hiformer.cu compiles (for both precisions), as (examples, width, cluster, blocks). */
  static final int[][] COMPILED = {
      {32, 32, 1, 1}, {16, 32, 1, 1}, {16, 32, 2, 1}, {16, 32, 4, 1}, {16, 16, 1, 2},
      {16, 64, 1, 1}};

  private final FusedShape s;
  private final Precision precision;
  final int d, w, heads, dh, dhp, tokens, tasks, rkp, rvp, fp, depth, towerMax;
  private final long[] desc;
  private long next;

  public FusedLayout(FusedShape shape, Precision precision) {
    String why = unsupported(shape);
    if (why != null) {
      throw new IllegalArgumentException("the CUDA kernel cannot run this model: " + why);
    }
    this.s = shape;
    this.precision = precision;
    d = shape.tokenDim();
    heads = shape.heads();
    dh = shape.headDim();
    dhp = roundUp(dh, 8);
    w = width(shape);
    tokens = shape.tokens();
    tasks = shape.tasks();
    rkp = roundUp(shape.rankK(), 16);
    rvp = roundUp(shape.rankV(), 16);
    fp = roundUp(shape.ffnDim(), 16);
    depth = shape.towerHidden().length + 1;
    int tm = 1;
    for (int h : shape.towerHidden()) {
      tm = Math.max(tm, h);
    }
    towerMax = tm;

    int layers = shape.layers();
    int nemb = shape.fieldSlots().length;
    int fieldBase = D_HEADER + L_STRIDE * layers;
    int towerBase = fieldBase + 2 * nemb;
    desc = new long[towerBase + depth + 1 + 2 * tasks * depth];
    desc[D_D] = d;
    desc[D_W] = w;
    desc[D_HEADS] = heads;
    desc[D_DH] = dh;
    desc[D_DHP] = dhp;
    desc[D_L] = tokens;
    desc[D_T] = tasks;
    desc[D_LAYERS] = layers;
    desc[D_RKP] = rkp;
    desc[D_RVP] = rvp;
    desc[D_FP] = fp;
    desc[D_NEMB] = nemb;
    desc[D_NCAT] = shape.numCategorical();
    desc[D_NBAG] = shape.numBag();
    desc[D_NDENSE] = shape.numDense();
    desc[D_DT] = shape.denseTokens();
    desc[D_TDEPTH] = depth;
    desc[D_TWMAX] = towerMax;
    desc[D_SCALE] = Float.floatToRawIntBits((float) (1.0 / Math.sqrt(dh)));  // as Attention.java scales
    desc[D_LAYER_BASE] = D_HEADER;
    desc[D_FIELD_BASE] = fieldBase;
    desc[D_TOWER_BASE] = towerBase;

    // small tensors first, so a layer's weights sit together; the embedding tables last
    int[] rows = shape.rows();
    int np = rkp + rvp;
    for (int l = 0; l < layers; l++) {
      int b = D_HEADER + L_STRIDE * l;
      int r = rows[l];
      desc[b + L_R] = r;
      desc[b + L_LN1G] = alloc(w);
      desc[b + L_LN1B] = alloc(w);
      desc[b + L_WQ] = alloc((long) r * w * w);
      desc[b + L_UCAT] = alloc((long) tokens * w * np);
      desc[b + L_VK] = alloc((long) heads * rkp * tokens * dhp);
      desc[b + L_VV] = alloc((long) heads * rvp * tokens * dhp);
      desc[b + L_WO] = alloc((long) r * w * w);
      desc[b + L_LN2G] = alloc(w);
      desc[b + L_LN2B] = alloc(w);
      desc[b + L_W1] = alloc((long) r * w * fp);
      desc[b + L_B1] = alloc((long) r * fp);
      desc[b + L_W2] = alloc((long) r * fp * w);
      desc[b + L_B2] = alloc((long) r * w);
    }
    if (shape.denseTokens() > 0) {
      desc[D_DENSE_W] = alloc((long) shape.numDense() * shape.denseTokens() * w);
      desc[D_DENSE_B] = alloc((long) shape.denseTokens() * w);
    }
    desc[D_TASK] = alloc((long) tasks * w);
    desc[D_FINAL_G] = alloc(w);
    desc[D_FINAL_B] = alloc(w);
    desc[towerBase] = d;
    int[] hidden = shape.towerHidden();
    for (int k = 0; k < depth; k++) {
      desc[towerBase + 1 + k] = k < hidden.length ? hidden[k] : 1;
    }
    for (int j = 0; j < tasks; j++) {
      for (int k = 0; k < depth; k++) {
        int slot = towerBase + depth + 1 + 2 * (j * depth + k);
        desc[slot] = alloc((long) towerIn(k) * towerOut(k));
        desc[slot + 1] = alloc(towerOut(k));
      }
    }
    int[] slots = shape.fieldSlots();
    int[] vocab = shape.vocab();
    for (int e = 0; e < nemb; e++) {
      desc[fieldBase + 2 * e] = slots[e];
      desc[fieldBase + 2 * e + 1] = alloc((long) vocab[e] * w);
    }
    if (next > Integer.MAX_VALUE - 64) {
      throw new IllegalArgumentException("the CUDA kernel cannot run this model: its padded weights take "
          + next + " floats, more than one Java array holds");
    }
  }

  /** Why the kernel cannot run {@code shape}, or null if it can. */
  public static String unsupported(FusedShape shape) {
    if (shape.tokens() > MAX_TOKENS) {
      return shape.tokens() + " tokens per example; the kernel handles at most " + MAX_TOKENS;
    }
    if (width(shape) > 64) {
      return "token width " + shape.tokenDim() + " with " + shape.heads() + " heads pads to "
          + roundUp(shape.headDim(), 8) * shape.heads() + "; the kernel handles at most 64";
    }
    int bytes = sharedBytes(shape, 16, 1);
    if (bytes > MAX_SHARED_BYTES) {
      return "one block of 16 examples would need " + bytes + " bytes of shared memory, more than "
          + MAX_SHARED_BYTES;
    }
    return null;
  }

  /** W: the padded token width, 16, 32 or 64 (or more, which no kernel takes). */
  static int width(FusedShape shape) {
    int attention = shape.heads() * roundUp(shape.headDim(), 8);
    int wd = roundUp(Math.max(shape.tokenDim(), attention), 16);
    return wd <= 16 ? 16 : wd <= 32 ? 32 : roundUp(wd, 64);
  }

  public FusedShape shape() {
    return s;
  }

  /** Floats of the weights buffer. */
  public int size() {
    return (int) next;
  }

  /** The descriptor the kernel reads its dimensions and offsets from. */
  public long[] descriptor() {
    return desc.clone();
  }

  public int width() {
    return w;
  }

  /**
   * Where embedding table {@code field} (its index among the embedded fields) starts in the weights
   * buffer: row v at {@code embeddingOffset(field) + v·width()}, its d features first, padding after.
   */
  public int embeddingOffset(int field) {
    return offset(desc[(int) desc[D_FIELD_BASE] + 2 * field + 1]);
  }

  /**
   * Floats before the first embedding table: every non-embedding parameter lies in {@code [0,
   * denseFloats())}, since the tables are allocated last.
   */
  public int denseFloats() {
    return s.fieldSlots().length == 0 ? size() : embeddingOffset(0);
  }

  /** Bytes of dynamic shared memory a block of {@code v} needs: the kernel's layout. */
  public int sharedBytes(Variant v) {
    return sharedBytes(s, v.examples(), v.cluster());
  }

  /** A cluster holds the keys and values of every head at once, a lone block of one. */
  private static int sharedBytes(FusedShape shape, int examples, int cluster) {
    int w = width(shape);
    int l = shape.tokens();
    int t = shape.tasks();
    int heads = cluster > 1 ? shape.heads() : 1;
    int sz = stride16(l * w);
    int sp = stride16(roundUp(shape.rankK(), 16) + roundUp(shape.rankV(), 16));
    int skv = stride8(heads * l * roundUp(shape.headDim(), 8));
    int towerMax = 1;
    for (int h : shape.towerHidden()) {
      towerMax = Math.max(towerMax, h);
    }
    // the towers' scratch: normalised task tokens, then two hidden layers, rows padded as in the kernel
    int towers = t * examples * (stride16(w) + 2 * stride16(roundUp(towerMax, 16)));
    int kv = Math.max(2 * examples * skv, towers);
    return 4 * (examples * sz + examples * sp + kv);
  }

  public Precision precision() {
    return precision;
  }

  /** The compiled kernels for this width whose shared memory fits (those of several blocks together). */
  public List<Variant> variants() {
    List<Variant> out = new ArrayList<>();
    for (int[] v : COMPILED) {
      Variant variant = new Variant(v[0], v[1], v[2], v[3], precision);
      int bytes = sharedBytes(variant);
      if (v[1] == w && bytes <= MAX_SHARED_BYTES && v[3] * (bytes + RESERVED_SHARED_BYTES) <= SM_SHARED_BYTES) {
        out.add(variant);
      }
    }
    return out;
  }

  /**
   * The variant for a batch of {@code n} on a device with {@code multiprocessors}, by the H200
   * measurements in kernels/README.md: tiles of 32 examples once they fill about every
   * multiprocessor (7/8 of them: each block reads the weights once, for twice the examples); below
   * that tiles of 16, shared by a cluster of 2 or 4 blocks while all of the batch's clusters run at
   * once ({@code clustersAtOnce}: the driver's count for each clustered variant; more would take a
   * second wave), else two blocks to a multiprocessor.
   */
  public Variant choose(int n, int multiprocessors, ToIntFunction<Variant> clustersAtOnce) {
    List<Variant> vs = variants();
    for (Variant v : vs) {
      if (v.examples() == 32 && 8 * ceilDiv(n, 32) >= 7 * multiprocessors) {
        return v;
      }
    }
    int tiles = ceilDiv(n, 16);
    Variant best = null;
    for (Variant v : vs) {
      if (v.examples() != 16) {
        continue;
      }
      boolean fits = v.cluster() == 1 || tiles <= clustersAtOnce.applyAsInt(v);
      if (fits && (best == null || better(v, best))) {
        best = v;
      }
    }
    if (best == null) {
      throw new IllegalStateException("no compiled kernel for width " + w);
    }
    return best;
  }

  /** {@link #choose(int, int, ToIntFunction)} with {@link #estimatedClustersAtOnce}. */
  Variant choose(int n, int multiprocessors) {
    return choose(n, multiprocessors, v -> estimatedClustersAtOnce(v.cluster(), multiprocessors));
  }

  /**
   * Clusters of {@code cluster} blocks (one a multiprocessor) that run at once where the driver
   * cannot say: pairs fill every multiprocessor (a TPC holds two), larger clusters lose about a
   * tenth to the GPCs' edges (an H200 runs 30 clusters of 4, not 33).
   */
  static int estimatedClustersAtOnce(int cluster, int multiprocessors) {
    return cluster <= 2 ? multiprocessors / cluster : multiprocessors * 9 / (10 * cluster);
  }

  /** More blocks per cluster first, then more blocks per multiprocessor. */
  private static boolean better(Variant a, Variant b) {
    return a.cluster() != b.cluster() ? a.cluster() > b.cluster() : a.blocks() > b.blocks();
  }

  // ---- packing: one method per parameter role, each from docs/model.md, Parameters ---------------------

  /** {@code emb.<field>} {@code [vocab, d]}, the field's index among the embedded fields. */
  public void packEmbedding(int field, float[] table, float[] blob) {
    int off = offset(desc[(int) desc[D_FIELD_BASE] + 2 * field + 1]);
    int vocab = s.vocab()[field];
    check(table, (long) vocab * d, "emb");
    for (int v = 0; v < vocab; v++) {
      System.arraycopy(table, v * d, blob, off + v * w, d);
    }
  }

  /** {@code dense.weight} {@code [D, dt·d]} and {@code dense.bias} {@code [dt·d]}. */
  public void packDense(float[] weight, float[] bias, float[] blob) {
    int dt = s.denseTokens();
    check(weight, (long) s.numDense() * dt * d, "dense.weight");
    check(bias, (long) dt * d, "dense.bias");
    int wo = offset(desc[D_DENSE_W]);
    int bo = offset(desc[D_DENSE_B]);
    for (int k = 0; k < s.numDense(); k++) {
      for (int t = 0; t < dt; t++) {
        System.arraycopy(weight, (k * dt + t) * d, blob, wo + (k * dt + t) * w, d);
      }
    }
    for (int t = 0; t < dt; t++) {
      System.arraycopy(bias, t * d, blob, bo + t * w, d);
    }
  }

  /** {@code task_tokens} {@code [T, d]}. */
  public void packTaskTokens(float[] taskTokens, float[] blob) {
    check(taskTokens, (long) tasks * d, "task_tokens");
    int off = offset(desc[D_TASK]);
    for (int j = 0; j < tasks; j++) {
      System.arraycopy(taskTokens, j * d, blob, off + j * w, d);
    }
  }

  /** {@code layers.<l>.ln1.weight / .bias}. */
  public void packNorm1(int layer, float[] gamma, float[] beta, float[] blob) {
    packVector(gamma, layerSlot(layer, L_LN1G), blob);
    packVector(beta, layerSlot(layer, L_LN1B), blob);
  }

  /** {@code layers.<l>.ln2.weight / .bias}. */
  public void packNorm2(int layer, float[] gamma, float[] beta, float[] blob) {
    packVector(gamma, layerSlot(layer, L_LN2G), blob);
    packVector(beta, layerSlot(layer, L_LN2B), blob);
  }

  /** {@code final_ln.weight / .bias}. */
  public void packFinalNorm(float[] gamma, float[] beta, float[] blob) {
    packVector(gamma, desc[D_FINAL_G], blob);
    packVector(beta, desc[D_FINAL_B], blob);
  }

  /** {@code layers.<l>.attn.wq} {@code [R, d, d]}: token features in, head-padded features out. */
  public void packQueries(int layer, float[] wq, float[] blob) {
    int r = rows(layer);
    check(wq, (long) r * d * d, "attn.wq");
    int off = offset(layerSlot(layer, L_WQ));
    float[] p = new float[w * w];
    for (int i = 0; i < r; i++) {
      java.util.Arrays.fill(p, 0f);
      for (int f = 0; f < d; f++) {
        for (int e = 0; e < d; e++) {
          p[f * w + headColumn(e)] = wq[(i * d + f) * d + e];
        }
      }
      fragments(p, w, w, false, blob, off + i * w * w);
    }
  }

  /** {@code layers.<l>.attn.wo} {@code [R, d, d]}: head-padded features in, token features out. */
  public void packOutput(int layer, float[] wo, float[] blob) {
    int r = rows(layer);
    check(wo, (long) r * d * d, "attn.wo");
    int off = offset(layerSlot(layer, L_WO));
    float[] p = new float[w * w];
    for (int i = 0; i < r; i++) {
      java.util.Arrays.fill(p, 0f);
      for (int e = 0; e < d; e++) {
        for (int f = 0; f < d; f++) {
          p[headColumn(e) * w + f] = wo[(i * d + e) * d + f];
        }
      }
      fragments(p, w, w, false, blob, off + i * w * w);
    }
  }

  /**
   * {@code attn.uk [L·d, r_k]}, {@code vk [r_k, L·d]}, {@code uv}, {@code vv}: uk and uv side by side
   * over the padded tokens; vk and vv split by head, each head's columns token by token.
   */
  public void packKeysValues(int layer, float[] uk, float[] vk, float[] uv, float[] vv, float[] blob) {
    int rk = s.rankK();
    int rv = s.rankV();
    int ld = tokens * d;
    check(uk, (long) ld * rk, "attn.uk");
    check(vk, (long) rk * ld, "attn.vk");
    check(uv, (long) ld * rv, "attn.uv");
    check(vv, (long) rv * ld, "attn.vv");
    int np = rkp + rvp;
    float[] u = new float[tokens * w * np];
    for (int j = 0; j < tokens; j++) {
      for (int f = 0; f < d; f++) {
        int row = (j * w + f) * np;
        int src = j * d + f;
        for (int c = 0; c < rk; c++) {
          u[row + c] = uk[src * rk + c];
        }
        for (int c = 0; c < rv; c++) {
          u[row + rkp + c] = uv[src * rv + c];
        }
      }
    }
    fragments(u, tokens * w, np, false, blob, offset(layerSlot(layer, L_UCAT)));
    int cols = tokens * dhp;
    packHeads(vk, rk, rkp, cols, offset(layerSlot(layer, L_VK)), blob);
    packHeads(vv, rv, rvp, cols, offset(layerSlot(layer, L_VV)), blob);
  }

  private void packHeads(float[] v, int rank, int rankPadded, int cols, int off, float[] blob) {
    int ld = tokens * d;
    float[] p = new float[rankPadded * cols];
    for (int h = 0; h < heads; h++) {
      java.util.Arrays.fill(p, 0f);
      for (int r = 0; r < rank; r++) {
        for (int j = 0; j < tokens; j++) {
          for (int c = 0; c < dh; c++) {
            p[r * cols + j * dhp + c] = v[r * ld + j * d + h * dh + c];
          }
        }
      }
      fragments(p, rankPadded, cols, false, blob, off + h * rankPadded * cols);
    }
  }

  /**
   * {@code ffn.w1 [R, d, m·d]}, {@code b1 [R, m·d]}, {@code w2 [R, m·d, d]}, {@code b2 [R, d]}. Both
   * matrices are packed "chained": their A operand is the previous product's output in registers.
   */
  public void packFfn(int layer, float[] w1, float[] b1, float[] w2, float[] b2, float[] blob) {
    int r = rows(layer);
    int f = s.ffnDim();
    check(w1, (long) r * d * f, "ffn.w1");
    check(b1, (long) r * f, "ffn.b1");
    check(w2, (long) r * f * d, "ffn.w2");
    check(b2, (long) r * d, "ffn.b2");
    int o1 = offset(layerSlot(layer, L_W1));
    int ob1 = offset(layerSlot(layer, L_B1));
    int o2 = offset(layerSlot(layer, L_W2));
    int ob2 = offset(layerSlot(layer, L_B2));
    float[] p1 = new float[w * fp];
    float[] p2 = new float[fp * w];
    for (int i = 0; i < r; i++) {
      java.util.Arrays.fill(p1, 0f);
      java.util.Arrays.fill(p2, 0f);
      for (int x = 0; x < d; x++) {
        System.arraycopy(w1, (i * d + x) * f, p1, x * fp, f);
      }
      for (int u = 0; u < f; u++) {
        System.arraycopy(w2, (i * f + u) * d, p2, u * w, d);
      }
      fragments(p1, w, fp, true, blob, o1 + i * w * fp);
      fragments(p2, fp, w, true, blob, o2 + i * fp * w);
      System.arraycopy(b1, i * f, blob, ob1 + i * fp, f);
      System.arraycopy(b2, i * d, blob, ob2 + i * w, d);
    }
  }

  /**
   * {@code towers.<task>.<k>.weight [in, out]} and {@code .bias [out]}: in fragment order, padded
   * with zeros to {@link #towerIn} rows and {@link #towerOut} columns.
   */
  public void packTower(int task, int k, float[] weight, float[] bias, float[] blob) {
    int slot = (int) desc[D_TOWER_BASE] + depth + 1 + 2 * (task * depth + k);
    int in = (int) desc[(int) desc[D_TOWER_BASE] + k];
    int out = (int) desc[(int) desc[D_TOWER_BASE] + k + 1];
    check(weight, (long) in * out, "towers weight");
    check(bias, out, "towers bias");
    int inP = towerIn(k);
    int outP = towerOut(k);
    float[] p = new float[inP * outP];
    for (int i = 0; i < in; i++) {
      System.arraycopy(weight, i * out, p, i * outP, out);
    }
    fragments(p, inP, outP, false, blob, offset(desc[slot]));
    System.arraycopy(bias, 0, blob, offset(desc[slot + 1]), out);
  }

  /** Rows of tower layer k as packed: the padded token width, then the hidden widths padded to 16. */
  private int towerIn(int k) {
    return k == 0 ? w : towerOut(k - 1);
  }

  private int towerOut(int k) {
    int[] hidden = s.towerHidden();
    return roundUp(k < hidden.length ? hidden[k] : 1, 16);
  }

  /**
   * Writes {@code p [k, n]} (row-major; k a multiple of 16, n of 8) in fragment order: for n-tile
   * nt, k-block kb and lane (g, t), four floats of column 8nt + g, rows 16kb + 4t + c (plain: the A
   * operand comes from shared memory the same way) or 16kb + 8(c / 2) + 2t + c % 2 (chained: the A
   * operand is an accumulator tile, whose lane t holds columns 2t and 2t + 1); fp32 as they are,
   * tf32 rounded.
   */
  void fragments(float[] p, int k, int n, boolean chained, float[] out, int off) {
    int kbs = k / 16;
    int nts = n / 8;
    for (int nt = 0; nt < nts; nt++) {
      for (int kb = 0; kb < kbs; kb++) {
        for (int lane = 0; lane < 32; lane++) {
          int g = lane >> 2;
          int t = lane & 3;
          int base = off + ((nt * kbs + kb) * 32 + lane) * 4;
          for (int c = 0; c < 4; c++) {
            int row = chained ? 16 * kb + 8 * (c >> 1) + 2 * t + (c & 1) : 16 * kb + 4 * t + c;
            float v = p[row * n + 8 * nt + g];
            out[base + c] = precision == Precision.FP32 ? v : tf32(v);
          }
        }
      }
    }
  }

  /** Rounds to the nearest tf32 (10 mantissa bits), ties away from zero, as cvt.rna.tf32.f32 does. */
  static float tf32(float v) {
    int bits = Float.floatToRawIntBits(v);
    if ((bits & 0x7f800000) != 0x7f800000) {
      bits += 0x1000;
    }
    return Float.intBitsToFloat(bits & 0xffffe000);
  }

  /** Where feature e of the attention output lands: each head padded to dhp. */
  private int headColumn(int e) {
    return (e / dh) * dhp + e % dh;
  }

  private int rows(int layer) {
    return s.rows()[layer];
  }

  private long layerSlot(int layer, int role) {
    return desc[D_HEADER + L_STRIDE * layer + role];
  }

  private void packVector(float[] v, long at, float[] blob) {
    check(v, d, "vector");
    System.arraycopy(v, 0, blob, offset(at), d);
  }

  private static void check(float[] a, long expected, String what) {
    if (a.length != expected) {
      throw new IllegalArgumentException(what + ": expected " + expected + " floats, got " + a.length);
    }
  }

  private static int offset(long at) {
    return (int) at;
  }

  /** Reserves {@code n} floats at a 128-byte boundary. */
  private long alloc(long n) {
    long at = next;
    next = roundUp(next + n, 32);
    return at;
  }

  static int stride16(int n) {
    return ((n + 16 + 31) / 32) * 32 - 16;
  }

  static int stride8(int n) {
    return ((n + 24 + 31) / 32) * 32 - 24;
  }

  private static int roundUp(int n, int m) {
    return (n + m - 1) / m * m;
  }

  private static long roundUp(long n, long m) {
    return (n + m - 1) / m * m;
  }

  private static int ceilDiv(int a, int b) {
    return (a + b - 1) / b;
  }
}
