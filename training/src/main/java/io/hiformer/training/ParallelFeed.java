package io.hiformer.training;

import io.hiformer.model.Batch;
import java.util.Iterator;
import java.util.NoSuchElementException;

/**
 * Shuffled passes over a cache with the examples copied on {@code threads} threads. The pass's
 * order is planned one batch at a time, in batch order, by whichever worker comes next (the
 * shuffle window is sequential, and cheap next to the copying); the worker then copies its batch's
 * examples into slot {@code i % depth} while others plan and copy the following batches, and the
 * consumer takes the batches in order. So a pass hands out exactly the batches of
 * {@link CachedExamples#batches}, in the same order, whatever the thread count.
 *
 * <p>Memory is bounded: {@code 2 * threads} slots, each a reused batch and its positions; a
 * worker waits while every slot is ready or being filled. Nothing is allocated per batch; the
 * threads, slots and shuffle window live until {@link #close()}.
 */
final class ParallelFeed implements BatchFeed {
  private final CachedExamples.Order order;
  private final int batchSize;
  private final long count;
  private final Slot[] slots;
  private final Thread[] workers;
  // guarded by this
  private int generation;
  private long total;
  private long planned;
  private long released;
  private boolean planning;
  private int busy;
  private Throwable failure;
  private long failedAt;
  private boolean closed;

  private static final class Slot {
    final Batch batch;
    final long[] positions;
    int size;
    long ready = -1;

    Slot(CachedExamples source, int batchSize) {
      batch = new Batch(source.config(), batchSize);
      positions = new long[batchSize];
    }
  }

  ParallelFeed(CachedExamples source, int batchSize, int threads) {
    if (batchSize < 1 || threads < 1) {
      throw new IllegalArgumentException("batch size and feed threads must be positive, got " + batchSize
          + " and " + threads);
    }
    this.order = source.new Order();
    this.batchSize = batchSize;
    this.count = source.count();
    this.slots = new Slot[2 * threads];
    for (int i = 0; i < slots.length; i++) {
      slots[i] = new Slot(source, batchSize);
    }
    this.workers = new Thread[threads];
    for (int k = 0; k < threads; k++) {
      CachedExamples.Rows rows = source.new Rows();
      workers[k] = Thread.ofPlatform().daemon().name("hiformer-feed-" + k).start(() -> work(rows));
    }
  }

  @Override
  public synchronized Iterator<Batch> pass(long seed) {
    if (closed) {
      throw new IllegalStateException("the batch feed is closed");
    }
    generation++;
    total = 0;  // no batch of the last pass is claimed from here on
    while (busy > 0) {
      await();
    }
    order.start(true, seed);
    total = (count + batchSize - 1) / batchSize;
    planned = 0;
    released = 0;
    failure = null;
    for (Slot s : slots) {
      s.ready = -1;
    }
    notifyAll();
    return new Pass(generation);
  }

  private void work(CachedExamples.Rows rows) {
    while (true) {
      Slot slot;
      long i;
      int gen;
      synchronized (this) {
        while (!closed && (planning || failure != null || planned >= total || planned >= released + slots.length)) {
          try {
            wait();
          } catch (InterruptedException e) {
            return;
          }
        }
        if (closed) {
          return;
        }
        i = planned++;
        gen = generation;
        slot = slots[(int) (i % slots.length)];
        planning = true;
        busy++;
      }
      Throwable failed = null;
      try {
        slot.size = order.next(slot.positions, batchSize);
      } catch (Throwable t) {
        failed = t;
      }
      synchronized (this) {
        planning = false;
        notifyAll();
      }
      if (failed == null) {
        try {
          rows.fill(slot.batch, slot.positions, slot.size);
        } catch (Throwable t) {
          failed = t;
        }
      }
      synchronized (this) {
        busy--;
        if (gen == generation) {
          if (failed == null) {
            slot.ready = i;
          } else if (failure == null || i < failedAt) {
            failure = failed;
            failedAt = i;
          }
        }
        notifyAll();
      }
    }
  }

  /** The consumer's side of one pass: batches in order, each slot freed when the next batch is asked for. */
  private final class Pass implements Iterator<Batch> {
    private final int gen;
    private long index;

    Pass(int gen) {
      this.gen = gen;
    }

    @Override
    public boolean hasNext() {
      synchronized (ParallelFeed.this) {
        return gen == generation && index < total;
      }
    }

    @Override
    public Batch next() {
      synchronized (ParallelFeed.this) {
        if (gen != generation || closed) {
          throw new IllegalStateException("this pass is over: a later pass started or the feed closed");
        }
        if (index >= total) {
          throw new NoSuchElementException();
        }
        released = index;  // the caller is done with every batch before this one
        ParallelFeed.this.notifyAll();
        Slot s = slots[(int) (index % slots.length)];
        while (s.ready != index && !(failure != null && failedAt <= index) && !closed) {
          await();
        }
        if (s.ready != index) {
          if (failure instanceof RuntimeException re) {
            throw re;
          }
          if (failure instanceof Error e) {
            throw e;
          }
          throw new IllegalStateException("the batch feed closed during a pass", failure);
        }
        index++;
        return s.batch;
      }
    }
  }

  private void await() {
    try {
      wait();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while waiting for the batch feed", e);
    }
  }

  /** Stops the threads (a batch being copied is finished first); the feed's batches must not be used afterwards. */
  @Override
  public void close() {
    synchronized (this) {
      closed = true;
      notifyAll();
    }
    boolean interrupted = false;
    for (Thread t : workers) {
      while (t.isAlive()) {
        try {
          t.join();
        } catch (InterruptedException e) {
          interrupted = true;
        }
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }
}
