package io.hiformer.training;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed set of threads that split numbered pieces of work with the calling thread. Unlike an
 * executor it allocates nothing per run: a run publishes a job and a piece count, wakes the
 * workers, and everyone takes pieces from one counter until none are left.
 */
final class WorkerPool implements AutoCloseable {

  /** Work done by piece number; {@code worker} is 0 for the caller and 1.. for pool threads. */
  interface Job {
    void run(int worker, int piece);
  }

  private final Thread[] threads;
  private final AtomicInteger nextPiece = new AtomicInteger();
  private final AtomicInteger busy = new AtomicInteger();
  private volatile int generation;
  private volatile boolean closed;
  private volatile Job job;
  private volatile int pieces;
  private volatile Thread caller;
  private volatile Throwable failure;

  /** A pool in which {@code parallelism} threads work, the caller included. */
  WorkerPool(int parallelism, String name) {
    threads = new Thread[Math.max(0, parallelism - 1)];
    for (int i = 0; i < threads.length; i++) {
      int worker = i + 1;
      threads[i] = Thread.ofPlatform().daemon().name(name + "-" + worker).start(() -> loop(worker));
    }
  }

  int parallelism() {
    return threads.length + 1;
  }

  /** Runs pieces {@code 0 .. pieces-1} of {@code job} across the pool; returns when all are done. */
  synchronized void run(Job job, int pieces) {
    if (closed) {
      throw new IllegalStateException("worker pool is closed");
    }
    if (pieces <= 1 || threads.length == 0) {
      for (int p = 0; p < pieces; p++) {
        job.run(0, p);
      }
      return;
    }
    this.job = job;
    this.pieces = pieces;
    this.caller = Thread.currentThread();
    this.failure = null;
    nextPiece.set(0);
    busy.set(threads.length);
    generation++;
    for (Thread t : threads) {
      LockSupport.unpark(t);
    }
    work(0);
    while (busy.get() != 0) {
      LockSupport.park(this);
    }
    this.job = null;
    Throwable f = failure;
    if (f != null) {
      if (f instanceof RuntimeException re) {
        throw re;
      }
      if (f instanceof Error e) {
        throw e;
      }
      throw new IllegalStateException(f);
    }
  }

  private void work(int worker) {
    Job j = job;
    int n = pieces;
    try {
      for (int p = nextPiece.getAndIncrement(); p < n; p = nextPiece.getAndIncrement()) {
        j.run(worker, p);
      }
    } catch (Throwable t) {
      failure = t;
      nextPiece.set(n);  // the others stop taking pieces
    }
  }

  private void loop(int worker) {
    int seen = 0;
    while (true) {
      while (generation == seen && !closed) {
        LockSupport.park(this);
      }
      if (closed) {
        return;
      }
      seen = generation;
      work(worker);
      if (busy.decrementAndGet() == 0) {
        LockSupport.unpark(caller);
      }
    }
  }

  @Override
  public void close() {
    closed = true;
    for (Thread t : threads) {
      LockSupport.unpark(t);
    }
  }
}
