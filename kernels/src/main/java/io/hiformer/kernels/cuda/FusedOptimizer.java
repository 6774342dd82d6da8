package io.hiformer.kernels.cuda;

import java.util.Arrays;

/**
 * The optimiser of a training step on a {@link TrainingDevice}, over weights packed by
 * {@link FusedLayout} (the serving layout, tables included; {@link Precision#FP32}): lazy Adam as
 * training/Adam.java defines it, and the trainer's weight moving average. It owns the device
 * buffers a step needs: the weights, Adam's two moments in the same layout, the moving average,
 * the dense gradients (same layout and size, written by the backward), the embedding gradients
 * {@code dEmb [B][nemb][d]} (the gradient of each embedded field's pooled vector) and what the lazy
 * decay owes per row.
 *
 * <p>A step: the backward fills the gradients ({@link #clearGradients} zeroes them first); {@link
 * #gradientsFinite} checks them; {@link #step} runs dense Adam over {@code [0, denseFloats)}, then
 * gathers each touched row's gradient from dEmb (a categorical id its field's vector, each id of a
 * bag the bag's vector over its length, in example order), pays the row's owed decay and runs Adam
 * on it, then the moving average. Touched rows are listed on the host (one pass over the batch's
 * ids) and uploaded with the gather lists.
 */
public final class FusedOptimizer implements AutoCloseable {
  /** The kernels of optim.cu this class launches. */
  static final String[] KERNELS = {"hf_adam_dense", "hf_adam_rows", "hf_paid_rows", "hf_settle", "hf_fill",
      "hf_ema", "hf_nonfinite"};

  /** Adam's settings as training/Adam.Settings holds them, and the moving average's decay (0: off). */
  public record Settings(double beta1, double beta2, double eps, double weightDecay, double embeddingWeightDecay,
      double embeddingL2, double ema) {}

  private final TrainingDevice dev;
  private final FusedLayout layout;
  private final Settings s;
  private final int size;
  private final int denseFloats;
  private final int nemb;
  private final int d;
  private final int w;
  private final int numCategorical;
  private final int numBag;
  private final int[] slots;
  private final int[] vocab;
  private final int[] paidBase;
  private final int capacity;

  private final TrainingDevice.Buffer weights;
  private final TrainingDevice.Buffer m;
  private final TrainingDevice.Buffer v;
  private final TrainingDevice.Buffer average;
  private final TrainingDevice.Buffer grads;
  private final TrainingDevice.Buffer dEmb;
  private final TrainingDevice.Buffer paid;
  private final TrainingDevice.Buffer flag;
  private TrainingDevice.Buffer rowOff;
  private TrainingDevice.Buffer rowPaid;
  private TrainingDevice.Buffer cstart;
  private TrainingDevice.Buffer csrc;
  private TrainingDevice.Buffer cscale;

  // the host side of the touched-row lists, reused across steps
  private final int[][] seenAt;
  private final int[][] rowIndex;
  private int round;
  private int[] hRowOff = new int[1024];
  private int[] hRowPaid = new int[1024];
  private int[] hCount = new int[1025];
  private int[] hSrc = new int[1024];
  private float[] hScale = new float[1024];
  private final int[] flagHost = new int[1];

  private long step;
  private double decayProduct = 1;

  /** Allocates the buffers for batches of up to {@code capacity} examples; nothing is uploaded yet. */
  public FusedOptimizer(TrainingDevice dev, FusedLayout layout, Settings settings, int capacity) {
    if (layout.precision() != Precision.FP32) {
      throw new IllegalArgumentException("training keeps fp32 weights; the layout is " + layout.precision());
    }
    this.dev = dev;
    this.layout = layout;
    this.s = settings;
    this.capacity = capacity;
    FusedShape shape = layout.shape();
    size = layout.size();
    denseFloats = layout.denseFloats();
    slots = shape.fieldSlots();
    vocab = shape.vocab();
    nemb = slots.length;
    d = shape.tokenDim();
    w = layout.width();
    numCategorical = shape.numCategorical();
    numBag = shape.numBag();
    paidBase = new int[nemb + 1];
    seenAt = new int[nemb][];
    rowIndex = new int[nemb][];
    for (int e = 0; e < nemb; e++) {
      paidBase[e + 1] = paidBase[e] + vocab[e];
      seenAt[e] = new int[vocab[e]];
      rowIndex[e] = new int[vocab[e]];
    }
    boolean lazyDecay = s.embeddingWeightDecay() > 0;
    weights = dev.alloc(TrainingDevice.Type.FLOAT, size);
    m = dev.alloc(TrainingDevice.Type.FLOAT, size);
    v = dev.alloc(TrainingDevice.Type.FLOAT, size);
    average = s.ema() > 0 ? dev.alloc(TrainingDevice.Type.FLOAT, size) : null;
    grads = dev.alloc(TrainingDevice.Type.FLOAT, size);
    dEmb = dev.alloc(TrainingDevice.Type.FLOAT, (long) capacity * nemb * d);
    paid = lazyDecay ? dev.alloc(TrainingDevice.Type.DOUBLE, paidBase[nemb]) : null;
    flag = dev.alloc(TrainingDevice.Type.INT, 1);
    growRows(1024, 1024);
    dev.zero(grads, size);
  }

  /**
   * Bytes of device memory a layout's training state takes for batches of {@code capacity}: weights,
   * two moments, the moving average, the gradients, dEmb, the lazy decay's bookkeeping and the
   * touched-row lists at their largest (every id of the batch its own row). The forward and backward's
   * own activations come on top.
   */
  public static long bytesNeeded(FusedLayout layout, Settings s, int capacity, long bagIdsPerExample) {
    FusedShape shape = layout.shape();
    int nemb = shape.fieldSlots().length;
    long floats = (long) layout.size() * (s.ema() > 0 ? 5 : 4) + (long) capacity * nemb * shape.tokenDim();
    long vocab = 0;
    for (int v : shape.vocab()) {
      vocab += v;
    }
    long contributions = (long) capacity * (shape.numCategorical() + bagIdsPerExample);
    long rows = 4L * 2 * contributions + 4L * 2 * contributions + 4;
    return 4 * floats + (s.embeddingWeightDecay() > 0 ? 8 * vocab : 0) + rows;
  }

  public FusedLayout layout() {
    return layout;
  }

  /** The packed weights the forward and backward read. */
  public TrainingDevice.Buffer weights() {
    return weights;
  }

  /** Where the backward writes the packed dense gradients (padding lanes 0; the tables' part unused). */
  public TrainingDevice.Buffer denseGradients() {
    return grads;
  }

  /** Where the backward writes dEmb {@code [B][nemb][d]}. */
  public TrainingDevice.Buffer embeddingGradients() {
    return dEmb;
  }

  public int capacity() {
    return capacity;
  }

  public long steps() {
    return step;
  }

  public double decayProduct() {
    return decayProduct;
  }

  /**
   * Uploads the weights, moments and moving average (packed; {@code avg} null when the average is
   * off) and Adam's counters; every row is taken as settled (as after Adam.settle or a restore).
   */
  public void upload(float[] packedWeights, float[] packedM, float[] packedV, float[] packedAverage, long steps,
      double decay) {
    dev.upload(weights, packedWeights, size);
    dev.upload(m, packedM, size);
    dev.upload(v, packedV, size);
    if (average != null) {
      dev.upload(average, packedAverage, size);
    }
    step = steps;
    decayProduct = decay;
    if (paid != null) {
      dev.launch("hf_fill", paidBase[nemb], paid, paidBase[nemb], decayProduct);
    }
  }

  /** Settles every row's owed decay, then copies weights, moments and average out (packed). */
  public void download(float[] packedWeights, float[] packedM, float[] packedV, float[] packedAverage) {
    settle();
    dev.download(weights, packedWeights, size);
    dev.download(m, packedM, size);
    dev.download(v, packedV, size);
    if (average != null) {
      dev.download(average, packedAverage, size);
    }
  }

  /** Adam.settle: every embedding row pays the decay it owes. */
  public void settle() {
    if (paid == null) {
      return;
    }
    for (int e = 0; e < nemb; e++) {
      dev.launch("hf_settle", 32L * vocab[e], weights, paid, layout.embeddingOffset(e), vocab[e], d, w, paidBase[e],
          decayProduct);
    }
    dev.launch("hf_fill", paidBase[nemb], paid, paidBase[nemb], decayProduct);
  }

  /** Zeroes the dense gradients and dEmb of {@code n} examples, before a backward. */
  public void clearGradients(int n) {
    dev.zero(grads, denseFloats);
    dev.zero(dEmb, (long) n * nemb * d);
  }

  /** Whether every dense gradient and every dEmb value of {@code n} examples is finite (waits for them). */
  public boolean gradientsFinite(int n) {
    dev.zero(flag, 1);
    dev.launch("hf_nonfinite", denseFloats, grads, denseFloats, flag);
    int emb = Math.toIntExact((long) n * nemb * d);
    dev.launch("hf_nonfinite", emb, dEmb, emb, flag);
    dev.download(flag, flagHost, 1);
    return flagHost[0] == 0;
  }

  /**
   * One Adam update at learning rate {@code lr} from the gradients on the device, of a batch of
   * {@code n} examples whose ids are {@code categorical [n, #categorical]}, {@code bagOffsets
   * [n·#bag + 1]} into {@code bagIds}; then the moving average.
   */
  public void step(int n, int[] categorical, int[] bagOffsets, int[] bagIds, double lr) {
    if (n <= 0 || n > capacity) {
      throw new IllegalArgumentException("batch of " + n + " outside 1.." + capacity);
    }
    step++;
    double c1 = 1 - Math.pow(s.beta1(), step);
    double c2 = 1 - Math.pow(s.beta2(), step);
    decayProduct *= 1 - lr * s.embeddingWeightDecay();
    float keep = s.weightDecay() > 0 ? (float) (1 - lr * s.weightDecay()) : 1f;
    dev.launch("hf_adam_dense", denseFloats, weights, m, v, grads, denseFloats, keep, lr, c1, c2, s.beta1(),
        s.beta2(), s.eps());
    int rows = listRows(n, categorical, bagOffsets, bagIds);
    if (rows > 0) {
      dev.upload(rowOff, hRowOff, rows);
      dev.upload(rowPaid, hRowPaid, rows);
      dev.upload(cstart, hCount, rows + 1);
      int k = hCount[rows];
      dev.upload(csrc, hSrc, k);
      dev.upload(cscale, hScale, k);
      dev.launch("hf_adam_rows", 32L * rows, weights, m, v, dEmb, rowOff, rowPaid, cstart, csrc, cscale, rows, d,
          paid, decayProduct, s.embeddingL2(), lr, c1, c2, s.beta1(), s.beta2(), s.eps());
      if (paid != null) {
        dev.launch("hf_paid_rows", rows, paid, rowPaid, rows, decayProduct);
      }
    }
    if (average != null) {
      float decay = (float) Math.min(s.ema(), (1.0 + step) / (10.0 + step));
      dev.launch("hf_ema", size, average, weights, size, decay);
    }
  }

  /**
   * Lists the touched rows (each once, first use first) and, per row, its gradient's terms in
   * example order: hRowOff, hRowPaid, hCount (as starts, rows + 1 of them), hSrc, hScale.
   */
  private int listRows(int n, int[] categorical, int[] bagOffsets, int[] bagIds) {
    round++;
    if (round == Integer.MAX_VALUE) {
      round = 1;
      for (int[] a : seenAt) {
        Arrays.fill(a, 0);
      }
    }
    int rows = 0;
    int terms = 0;
    // pass 1: rows and how many terms each has
    for (int b = 0; b < n; b++) {
      for (int e = 0; e < nemb; e++) {
        int slot = slots[e];
        if (slot >= 0) {
          rows = touch(e, categorical[b * numCategorical + slot], rows);
          terms++;
        } else {
          int k = -1 - slot;
          for (int p = bagOffsets[b * numBag + k]; p < bagOffsets[b * numBag + k + 1]; p++) {
            rows = touch(e, bagIds[p], rows);
            terms++;
          }
        }
      }
    }
    growRows(rows, terms);
    int sum = 0;
    for (int u = 0; u < rows; u++) {
      int c = hCount[u];
      hCount[u] = sum;
      sum += c;
    }
    hCount[rows] = sum;
    // pass 2: the terms, in example order; hCount[u] is row u's cursor, then its end
    for (int b = 0; b < n; b++) {
      for (int e = 0; e < nemb; e++) {
        int slot = slots[e];
        int src = b * nemb + e;
        if (slot >= 0) {
          int u = rowIndex[e][categorical[b * numCategorical + slot]];
          hSrc[hCount[u]] = src;
          hScale[hCount[u]++] = 1f;
        } else {
          int k = -1 - slot;
          int start = bagOffsets[b * numBag + k];
          int end = bagOffsets[b * numBag + k + 1];
          float inv = 1f / (end - start);  // as Hiformer's backward scales a bag's rows
          for (int p = start; p < end; p++) {
            int u = rowIndex[e][bagIds[p]];
            hSrc[hCount[u]] = src;
            hScale[hCount[u]++] = inv;
          }
        }
      }
    }
    // the cursors now hold each row's end: shift back to starts
    for (int u = rows; u > 0; u--) {
      hCount[u] = hCount[u - 1];
    }
    hCount[0] = 0;
    return rows;
  }

  private int touch(int e, int row, int rows) {
    if (seenAt[e][row] != round) {
      seenAt[e][row] = round;
      rowIndex[e][row] = rows;
      if (rows + 1 >= hRowOff.length) {
        int grown = 2 * hRowOff.length;
        hRowOff = Arrays.copyOf(hRowOff, grown);
        hRowPaid = Arrays.copyOf(hRowPaid, grown);
        hCount = Arrays.copyOf(hCount, grown + 1);
      }
      hRowOff[rows] = layout.embeddingOffset(e) + row * w;
      hRowPaid[rows] = paidBase[e] + row;
      hCount[rows] = 0;
      rows++;
    }
    hCount[rowIndex[e][row]]++;
    return rows;
  }

  /** Grows the host term arrays and the device row lists to hold {@code rows} rows and {@code terms} terms. */
  private void growRows(int rows, int terms) {
    if (terms > hSrc.length) {
      hSrc = Arrays.copyOf(hSrc, Math.max(terms, 2 * hSrc.length));
      hScale = Arrays.copyOf(hScale, hSrc.length);
    }
    if (rowOff == null || rows > rowOff.count()) {
      long r = Math.max(rows, rowOff == null ? 0 : 2 * rowOff.count());
      dev.free(rowOff);
      dev.free(rowPaid);
      dev.free(cstart);
      rowOff = dev.alloc(TrainingDevice.Type.INT, r);
      rowPaid = dev.alloc(TrainingDevice.Type.INT, r);
      cstart = dev.alloc(TrainingDevice.Type.INT, r + 1);
    }
    if (csrc == null || terms > csrc.count()) {
      long k = Math.max(terms, csrc == null ? 0 : 2 * csrc.count());
      dev.free(csrc);
      dev.free(cscale);
      csrc = dev.alloc(TrainingDevice.Type.INT, k);
      cscale = dev.alloc(TrainingDevice.Type.FLOAT, k);
    }
  }

  /** Frees every buffer. */
  @Override
  public void close() {
    for (TrainingDevice.Buffer b : new TrainingDevice.Buffer[] {weights, m, v, average, grads, dEmb, paid, flag,
        rowOff, rowPaid, cstart, csrc, cscale}) {
      dev.free(b);
    }
  }
}
