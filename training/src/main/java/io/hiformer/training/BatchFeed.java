package io.hiformer.training;

import io.hiformer.model.Batch;
import java.util.Iterator;

/**
 * Shuffled passes over a source's examples ({@link ExampleSource#feed}); may hold threads and
 * batches between passes. Starting a pass ends the one before, whose iterator must not be used
 * again.
 */
@FunctionalInterface
public interface BatchFeed extends AutoCloseable {

  /** A pass shuffled by {@code seed}; the batch objects are reused: use each before asking for the next. */
  Iterator<Batch> pass(long seed);

  @Override
  default void close() {}
}
