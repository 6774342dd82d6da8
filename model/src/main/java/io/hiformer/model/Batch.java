package io.hiformer.model;

import java.util.Arrays;

/**
 * Model inputs for up to {@link #capacity()} examples, in the encoding of docs/model.md, Expected files:
 * categorical ids {@code [B, #categorical]}, bag ids in CSR form with offsets
 * {@code [B·#bag + 1]}, dense values {@code [B, D]}, and (for training) labels and a label mask
 * {@code [B, T]}. Reused across calls: {@link #clear()} empties it without freeing anything.
 */
public final class Batch {
  private final int numCategorical;
  private final int numBag;
  private final int numDense;
  private final int numTasks;
  private final int capacity;
  private final java.util.List<ModelConfig.Field> categoricalFields;
  private final java.util.List<ModelConfig.Field> bagFields;
  private final java.util.List<ModelConfig.Field> denseFields;

  final int[] categorical;
  final int[] bagOffsets;
  int[] bagIds;
  final float[] dense;
  final float[] labels;
  final float[] labelMask;
  private int size;

  /**
   * The batch's arrays in the encoding of docs/model.md, Expected files, for copying to a device
   * or a file as they are (read only): categorical ids {@code [n, #categorical]}, bag offsets
   * {@code [n·#bag + 1]} into the bag ids, dense values {@code [n, D]}, labels and their mask
   * {@code [n, T]}.
   */
  public int[] categoricalIds() {
    return categorical;
  }

  /** See {@link #categoricalIds()}. */
  public int[] bagOffsetArray() {
    return bagOffsets;
  }

  /** See {@link #categoricalIds()}. */
  public int[] bagIdArray() {
    return bagIds;
  }

  /** See {@link #categoricalIds()}. */
  public float[] denseValues() {
    return dense;
  }

  /** See {@link #categoricalIds()}. */
  public float[] labelValues() {
    return labels;
  }

  /** See {@link #categoricalIds()}. */
  public float[] labelMaskValues() {
    return labelMask;
  }

  public Batch(ModelConfig config, int capacity) {
    if (capacity <= 0) {
      throw new IllegalArgumentException("batch capacity must be positive, got " + capacity);
    }
    this.categoricalFields = config.categoricalFields();
    this.bagFields = config.bagFields();
    this.denseFields = config.denseFields();
    this.numCategorical = categoricalFields.size();
    this.numBag = bagFields.size();
    this.numDense = denseFields.size();
    this.numTasks = config.numTasks();
    this.capacity = capacity;
    this.categorical = new int[capacity * numCategorical];
    this.bagOffsets = new int[capacity * numBag + 1];
    this.bagIds = new int[Math.max(16, capacity * numBag * 4)];
    this.dense = new float[capacity * numDense];
    this.labels = new float[capacity * numTasks];
    this.labelMask = new float[capacity * numTasks];
  }

  public int capacity() {
    return capacity;
  }

  public int size() {
    return size;
  }

  public void clear() {
    size = 0;
  }

  /**
   * Appends one example. {@code bags[k]} holds the ids of the k-th bag field (may be empty);
   * {@code labels}/{@code labelMask} may be null at inference. Returns the example's index.
   */
  public int add(int[] categoricalIds, int[][] bags, float[] denseValues, float[] labelValues, float[] mask) {
    if (size == capacity) {
      throw new IllegalStateException("batch is full (" + capacity + " examples)");
    }
    check(categoricalIds.length == numCategorical, "categorical ids", numCategorical, categoricalIds.length);
    check(denseValues.length == numDense, "dense values", numDense, denseValues.length);
    int b = size;
    System.arraycopy(categoricalIds, 0, categorical, b * numCategorical, numCategorical);
    System.arraycopy(denseValues, 0, dense, b * numDense, numDense);
    int bagCount = bags == null ? 0 : bags.length;
    check(bagCount == numBag, "bag fields", numBag, bagCount);
    for (int k = 0; k < numBag; k++) {
      int start = bagOffsets[b * numBag + k];
      int end = start + bags[k].length;
      if (end > bagIds.length) {
        bagIds = Arrays.copyOf(bagIds, Math.max(end, bagIds.length * 2));
      }
      System.arraycopy(bags[k], 0, bagIds, start, bags[k].length);
      bagOffsets[b * numBag + k + 1] = end;
    }
    for (int j = 0; j < numTasks; j++) {
      labels[b * numTasks + j] = labelValues == null ? 0f : labelValues[j];
      labelMask[b * numTasks + j] = labelValues == null ? 0f : mask == null ? 1f : mask[j];
    }
    size++;
    return b;
  }

  /**
   * Appends one example whose bags are packed in one array: bag field {@code k} holds
   * {@code bagIds[bagEnds[k - 1] .. bagEnds[k])} (from 0 for the first). Allocates nothing, for
   * readers that hold examples in arrays (the example cache). Returns the example's index.
   */
  public int addPacked(int[] categoricalIds, int[] bagIds, int[] bagEnds, float[] denseValues, float[] labelValues,
      float[] mask) {
    if (size == capacity) {
      throw new IllegalStateException("batch is full (" + capacity + " examples)");
    }
    int b = size;
    System.arraycopy(categoricalIds, 0, categorical, b * numCategorical, numCategorical);
    System.arraycopy(denseValues, 0, dense, b * numDense, numDense);
    int base = bagOffsets[b * numBag];
    int total = numBag == 0 ? 0 : bagEnds[numBag - 1];
    if (base + total > this.bagIds.length) {
      this.bagIds = Arrays.copyOf(this.bagIds, Math.max(base + total, this.bagIds.length * 2));
    }
    System.arraycopy(bagIds, 0, this.bagIds, base, total);
    for (int k = 0; k < numBag; k++) {
      bagOffsets[b * numBag + k + 1] = base + bagEnds[k];
    }
    System.arraycopy(labelValues, 0, labels, b * numTasks, numTasks);
    System.arraycopy(mask, 0, labelMask, b * numTasks, numTasks);
    size++;
    return b;
  }

  /**
   * Appends every example of {@code other} (a batch of the same config) after this batch's, labels
   * included; for merging the batches of concurrent requests into one scoring call.
   */
  public void append(Batch other) {
    int n = other.size;
    if (other.numCategorical != numCategorical || other.numBag != numBag || other.numDense != numDense
        || other.numTasks != numTasks) {
      throw new IllegalArgumentException("cannot append a batch of another model config");
    }
    if (size + n > capacity) {
      throw new IllegalStateException("batch of " + size + " cannot take " + n + " more (capacity " + capacity + ")");
    }
    System.arraycopy(other.categorical, 0, categorical, size * numCategorical, n * numCategorical);
    System.arraycopy(other.dense, 0, dense, size * numDense, n * numDense);
    System.arraycopy(other.labels, 0, labels, size * numTasks, n * numTasks);
    System.arraycopy(other.labelMask, 0, labelMask, size * numTasks, n * numTasks);
    int base = bagOffsets[size * numBag];
    int ids = other.bagOffsets[n * numBag];
    if (base + ids > bagIds.length) {
      bagIds = Arrays.copyOf(bagIds, Math.max(base + ids, bagIds.length * 2));
    }
    System.arraycopy(other.bagIds, 0, bagIds, base, ids);
    for (int i = 1; i <= n * numBag; i++) {
      bagOffsets[size * numBag + i] = base + other.bagOffsets[i];
    }
    size += n;
  }

  /**
   * A batch over arrays in the expected-file encoding (docs/model.md, Expected files), copied in;
   * {@code labels} and {@code labelMask} may be null.
   */
  public static Batch of(ModelConfig config, int size, int[] categorical, int[] bagIds, int[] bagOffsets,
      float[] dense, float[] labels, float[] labelMask) {
    Batch batch = new Batch(config, size);
    int t = config.numTasks();
    check(categorical.length == size * batch.numCategorical, "categorical ids", size * batch.numCategorical,
        categorical.length);
    check(dense.length == size * batch.numDense, "dense values", size * batch.numDense, dense.length);
    check(bagOffsets.length == size * batch.numBag + 1, "bag offsets", size * batch.numBag + 1, bagOffsets.length);
    for (int i = 0; i < bagOffsets.length; i++) {
      if (bagOffsets[i] < (i == 0 ? 0 : bagOffsets[i - 1]) || bagOffsets[i] > bagIds.length) {
        throw new IllegalArgumentException("bag offsets must rise from 0 to at most " + bagIds.length
            + "; offset " + i + " is " + bagOffsets[i]);
      }
    }
    System.arraycopy(categorical, 0, batch.categorical, 0, categorical.length);
    System.arraycopy(dense, 0, batch.dense, 0, dense.length);
    System.arraycopy(bagOffsets, 0, batch.bagOffsets, 0, bagOffsets.length);
    batch.bagIds = Arrays.copyOf(bagIds, Math.max(bagIds.length, 1));
    if (labels != null) {
      check(labels.length == size * t, "labels", size * t, labels.length);
      System.arraycopy(labels, 0, batch.labels, 0, labels.length);
      if (labelMask == null) {
        Arrays.fill(batch.labelMask, 1f);
      } else {
        check(labelMask.length == size * t, "label mask values", size * t, labelMask.length);
        System.arraycopy(labelMask, 0, batch.labelMask, 0, labelMask.length);
      }
    }
    batch.size = size;
    return batch;
  }

  private static void check(boolean ok, String what, int expected, int got) {
    if (!ok) {
      throw new IllegalArgumentException("expected " + expected + " " + what + ", got " + got);
    }
  }

  /** The id of categorical field {@code c} (index among categorical fields) of example {@code b}. */
  public int categorical(int b, int c) {
    return categorical[b * numCategorical + c];
  }

  /** Where the ids of bag field {@code k} of example {@code b} start in {@link #bagId}'s numbering. */
  public int bagStart(int b, int k) {
    return bagOffsets[b * numBag + k];
  }

  /** Where they end (exclusive). */
  public int bagEnd(int b, int k) {
    return bagOffsets[b * numBag + k + 1];
  }

  public int bagId(int p) {
    return bagIds[p];
  }

  /** A copy of the ids of bag field {@code k} of example {@code b} (not for hot paths). */
  public int[] bag(int b, int k) {
    return Arrays.copyOfRange(bagIds, bagStart(b, k), bagEnd(b, k));
  }

  public float dense(int b, int k) {
    return dense[b * numDense + k];
  }

  public float label(int b, int task) {
    return labels[b * numTasks + task];
  }

  public float labelMask(int b, int task) {
    return labelMask[b * numTasks + task];
  }

  /**
   * Checks every id against its vocabulary and every dense value for finiteness, so that the
   * forward pass can index tables without bounds surprises. Names the first offending value.
   */
  void validate(int from, int count) {
    var cats = categoricalFields;
    var bags = bagFields;
    for (int b = from; b < from + count; b++) {
      for (int c = 0; c < numCategorical; c++) {
        int id = categorical[b * numCategorical + c];
        if (id < 0 || id >= cats.get(c).vocab()) {
          throw new IllegalArgumentException("example " + b + ": field '" + cats.get(c).name() + "' id " + id
              + " is outside [0, " + cats.get(c).vocab() + ")");
        }
      }
      for (int k = 0; k < numBag; k++) {
        for (int p = bagOffsets[b * numBag + k]; p < bagOffsets[b * numBag + k + 1]; p++) {
          if (bagIds[p] < 0 || bagIds[p] >= bags.get(k).vocab()) {
            throw new IllegalArgumentException("example " + b + ": bag field '" + bags.get(k).name() + "' id "
                + bagIds[p] + " is outside [0, " + bags.get(k).vocab() + ")");
          }
        }
      }
      for (int k = 0; k < numDense; k++) {
        if (!Float.isFinite(dense[b * numDense + k])) {
          throw new IllegalArgumentException("example " + b + ": dense field '" + denseFields.get(k).name()
              + "' is " + dense[b * numDense + k]);
        }
      }
    }
  }
}
