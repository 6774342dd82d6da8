package io.hiformer.training;

import io.hiformer.model.Batch;
import io.hiformer.model.ModelConfig;
import java.util.Arrays;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.SplittableRandom;

/**
 * Encoded examples held compactly in memory (ids, dense values, labels), handed out as batches in
 * a seeded shuffled order or in file order. For tests and small sets built in code; training jobs
 * stream from a featurised cache ({@link CachedExamples}) instead.
 */
public final class ExampleSet implements ExampleSource {
  private final ModelConfig config;
  private final int cats;
  private final int bags;
  private final int dense;
  private final int tasks;
  private int size;
  private int[] catIds = new int[0];
  private int[] bagOffsets = new int[] {0};
  private int[] bagIds = new int[0];
  private int bagEnd;
  private float[] denseValues = new float[0];
  private float[] labels = new float[0];
  private float[] masks = new float[0];

  public ExampleSet(ModelConfig config) {
    this.config = config;
    this.cats = config.categoricalFields().size();
    this.bags = config.bagFields().size();
    this.dense = config.numDense();
    this.tasks = config.numTasks();
  }

  @Override
  public ModelConfig config() {
    return config;
  }

  public int size() {
    return size;
  }

  @Override
  public long count() {
    return size;
  }

  /** Appends every example of {@code batch}. */
  public void addAll(Batch batch) {
    int n = batch.size();
    ensure(size + n);
    for (int b = 0; b < n; b++) {
      int e = size + b;
      for (int c = 0; c < cats; c++) {
        catIds[e * cats + c] = batch.categorical(b, c);
      }
      for (int k = 0; k < bags; k++) {
        for (int p = batch.bagStart(b, k); p < batch.bagEnd(b, k); p++) {
          if (bagEnd == bagIds.length) {
            bagIds = Arrays.copyOf(bagIds, Math.max(16, bagEnd * 2));
          }
          bagIds[bagEnd++] = batch.bagId(p);
        }
        bagOffsets[e * bags + k + 1] = bagEnd;
      }
      for (int k = 0; k < dense; k++) {
        denseValues[e * dense + k] = batch.dense(b, k);
      }
      for (int j = 0; j < tasks; j++) {
        labels[e * tasks + j] = batch.label(b, j);
        masks[e * tasks + j] = batch.labelMask(b, j);
      }
    }
    size += n;
  }

  private void ensure(int n) {
    if (n * Math.max(cats, 1) > catIds.length || n * tasks > labels.length) {
      int cap = Math.max(n, size * 2);
      catIds = Arrays.copyOf(catIds, cap * cats);
      int[] offsets = Arrays.copyOf(bagOffsets, cap * bags + 1);
      bagOffsets = offsets;
      denseValues = Arrays.copyOf(denseValues, cap * dense);
      labels = Arrays.copyOf(labels, cap * tasks);
      masks = Arrays.copyOf(masks, cap * tasks);
    }
  }

  public float label(int e, int task) {
    return labels[e * tasks + task];
  }

  public float labelMask(int e, int task) {
    return masks[e * tasks + task];
  }

  /**
   * The examples in batches of {@code batchSize}: shuffled by {@code seed}, or in order when
   * {@code shuffle} is false. The batch object is reused: use each before asking for the next.
   */
  @Override
  public Iterable<Batch> batches(int batchSize, boolean shuffle, long seed) {
    int[] order = new int[size];
    for (int i = 0; i < size; i++) {
      order[i] = i;
    }
    if (shuffle) {
      SplittableRandom rnd = new SplittableRandom(seed);
      for (int i = size - 1; i > 0; i--) {
        int j = rnd.nextInt(i + 1);
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
      }
    }
    return () -> new Iterator<>() {
      private final Batch batch = new Batch(config, batchSize);
      private final int[] cat = new int[cats];
      private final int[][] bag = new int[bags][];
      private final float[] den = new float[dense];
      private final float[] lab = new float[tasks];
      private final float[] msk = new float[tasks];
      private int next;

      @Override
      public boolean hasNext() {
        return next < size;
      }

      @Override
      public Batch next() {
        if (!hasNext()) {
          throw new NoSuchElementException();
        }
        batch.clear();
        int end = Math.min(size, next + batchSize);
        for (; next < end; next++) {
          int e = order[next];
          System.arraycopy(catIds, e * cats, cat, 0, cats);
          for (int k = 0; k < bags; k++) {
            bag[k] = Arrays.copyOfRange(bagIds, bagOffsets[e * bags + k], bagOffsets[e * bags + k + 1]);
          }
          System.arraycopy(denseValues, e * dense, den, 0, dense);
          System.arraycopy(labels, e * tasks, lab, 0, tasks);
          System.arraycopy(masks, e * tasks, msk, 0, tasks);
          batch.add(cat, bag, den, lab, msk);
        }
        return batch;
      }
    };
  }
}
