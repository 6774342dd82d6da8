package io.hiformer.training;

import io.hiformer.model.Batch;
import io.hiformer.model.ModelConfig;

/**
 * Encoded examples to train or evaluate on, handed out as batches: held in memory
 * ({@link ExampleSet}) or read from a featurised cache file ({@link CachedExamples}), whatever
 * the data's size.
 */
public interface ExampleSource {

  ModelConfig config();

  /** How many examples one pass hands out. */
  long count();

  /**
   * One pass over the examples in batches of {@code batchSize}: in stored order, or shuffled by
   * {@code seed} when {@code shuffle} is true. The batch object is reused: use each before asking
   * for the next.
   */
  Iterable<Batch> batches(int batchSize, boolean shuffle, long seed);

  /**
   * Shuffled passes for training, each handing out exactly {@code batches(batchSize, true, seed)}'s
   * batches in the same order, assembled on up to {@code threads} threads. Close it to stop them.
   */
  default BatchFeed feed(int batchSize, int threads) {
    return seed -> batches(batchSize, true, seed).iterator();
  }
}
