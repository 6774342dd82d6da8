package io.hiformer.ranker;

import io.hiformer.model.Batch;
import io.hiformer.model.LogitScorer;
import io.hiformer.model.ModelConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Merges the batches of concurrent Rank calls into one scoring call, so a GPU runs full batches
 * instead of one small launch per request. The oldest waiting call opens a batch; it closes when
 * the next call would not fit in {@code maxBatch} candidates, or {@code maxDelay} after that oldest
 * call arrived. One thread scores the batches in turn and hands each call its logits; a call of
 * {@code maxBatch} candidates or more is scored at once, on its own.
 *
 * <p>With {@code maxDelay} zero a batch takes just the calls already waiting: a lone call is
 * scored at once, and under load the calls that arrive while one batch runs make up the next, so
 * batches grow with the load by themselves (measured on an H200 in ranker/README.md: better than
 * waiting 500 us at light load, the same at saturation).
 */
final class DynamicBatcher implements LogitScorer {
  private final LogitScorer target;
  private final int tasks;
  private final int maxBatch;
  private final long maxDelayNanos;
  private final LinkedBlockingQueue<Call> queue = new LinkedBlockingQueue<>();
  private final Batch merged;
  private final float[] mergedLogits;
  private final Thread worker;
  private volatile boolean closed;

  /** One waiting call: its batch, where its logits go, and when it is done. */
  private static final class Call {
    final Batch batch;
    final float[] logits;
    final long arrived = System.nanoTime();
    final CountDownLatch done = new CountDownLatch(1);
    RuntimeException error;

    Call(Batch batch, float[] logits) {
      this.batch = batch;
      this.logits = logits;
    }
  }

  DynamicBatcher(LogitScorer target, ModelConfig config, int maxBatch, long maxDelayNanos) {
    if (maxBatch < 1 || maxDelayNanos < 0) {
      throw new IllegalArgumentException("max batch must be positive and max delay not negative, got " + maxBatch
          + ", " + maxDelayNanos + " ns");
    }
    this.target = target;
    this.tasks = config.numTasks();
    this.maxBatch = maxBatch;
    this.maxDelayNanos = maxDelayNanos;
    this.merged = new Batch(config, maxBatch);
    this.mergedLogits = new float[maxBatch * tasks];
    this.worker = Thread.ofPlatform().name("hiformer-batcher").daemon().start(this::run);
  }

  @Override
  public void score(Batch batch, float[] logits) {
    if (batch.size() >= maxBatch) {
      synchronized (target) {   // the target scores one batch at a time either way
        target.score(batch, logits);
      }
      return;
    }
    if (batch.size() == 0) {
      return;
    }
    Call call = new Call(batch, logits);
    if (closed) {
      throw new IllegalStateException("scorer is closed");
    }
    queue.add(call);
    boolean interrupted = false;
    while (true) {
      try {
        call.done.await();
        break;
      } catch (InterruptedException e) {
        interrupted = true;   // the batch holds this call's arrays: wait until it is scored
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
    if (call.error != null) {
      throw call.error;
    }
  }

  private void run() {
    List<Call> group = new ArrayList<>();
    Call carried = null;
    while (!closed || carried != null || !queue.isEmpty()) {
      Call first = carried;
      carried = null;
      try {
        if (first == null) {
          first = queue.poll(100, TimeUnit.MILLISECONDS);
          if (first == null) {
            continue;
          }
        }
        group.add(first);
        int n = first.batch.size();
        long deadline = first.arrived + maxDelayNanos;
        while (n < maxBatch) {
          long wait = deadline - System.nanoTime();
          Call next = wait > 0 ? queue.poll(wait, TimeUnit.NANOSECONDS) : queue.poll();
          if (next == null) {
            break;
          }
          if (n + next.batch.size() > maxBatch) {
            carried = next;
            break;
          }
          group.add(next);
          n += next.batch.size();
        }
      } catch (InterruptedException e) {
        // close() interrupts a waiting worker; score what was taken, then the loop re-checks
      }
      if (!group.isEmpty()) {
        scoreGroup(group);
        group.clear();
      }
    }
  }

  private void scoreGroup(List<Call> group) {
    try {
      synchronized (target) {
        if (group.size() == 1) {
          scoreAlone(group.getFirst());
        } else {
          try {
            merged.clear();
            for (Call c : group) {
              merged.append(c.batch);
            }
            target.score(merged, mergedLogits);
            int at = 0;
            for (Call c : group) {
              int n = c.batch.size() * tasks;
              System.arraycopy(mergedLogits, at, c.logits, 0, n);
              at += n;
            }
          } catch (RuntimeException e) {
            for (Call c : group) {   // one bad call must not fail the others: each on its own
              scoreAlone(c);
            }
          }
        }
      }
    } finally {
      for (Call c : group) {
        c.done.countDown();
      }
    }
  }

  private void scoreAlone(Call c) {
    try {
      target.score(c.batch, c.logits);
    } catch (RuntimeException e) {
      c.error = e;
    }
  }

  /** Calls waiting for the scoring thread (for tests). */
  int waiting() {
    return queue.size();
  }

  @Override
  public String description() {
    return target.description() + ", batching up to " + maxBatch + " candidates"
        + (maxDelayNanos == 0 ? " (those waiting when the GPU is free)" : " or " + maxDelayNanos / 1000 + " us");
  }

  /** Scores the calls already waiting, then stops the worker and closes the target. */
  @Override
  public void close() {
    closed = true;
    worker.interrupt();
    try {
      worker.join();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    target.close();
  }
}
