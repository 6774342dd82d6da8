package io.hiformer.model;

import java.util.ArrayDeque;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * Inference over whole batches: splits each batch into tiles small enough to keep a tile's
 * activations in cache, and runs them on a fixed set of worker threads, each with its own
 * {@link Activations}.
 *
 * <p>Concurrent calls share the workers tile by tile: a call queues its batch; the workers take
 * tiles from the oldest call that has any left, and the calling thread scores tiles of its own
 * call too, so a one-tile batch never waits for another thread to wake. One call alone gets every
 * worker; under load, the next call's tiles fill the gap left while the last tiles of the previous
 * one finish, and calls finish in the order they came (a lock held for a whole call would let a
 * caller overtake others without bound). Once warm, {@link #score} allocates nothing: calls and
 * the callers' activations are recycled (at most as many callers' activations as workers).
 */
public final class Scorer implements BatchScorer {
  /** Examples per tile: measured best for ref-serving on AVX-512 (see the model README). */
  public static final int DEFAULT_TILE = 32;

  private final Hiformer model;
  private final int tile;
  private final int tasks;
  private final Thread[] workers;
  private final Activations[] perWorker;

  // The monitor of pending guards the fields below and Call.next; it is held for a few instructions at
  // a time. Idle workers park; a queued call unparks them all.
  private final ArrayDeque<Call> pending = new ArrayDeque<>();
  private final ArrayDeque<Call> spare = new ArrayDeque<>();
  private final ArrayDeque<Activations> callerActivations = new ArrayDeque<>();
  private int callerActivationsMade;
  private boolean closed;

  /** One queued batch; reused once its caller has returned. */
  private static final class Call {
    Batch batch;
    float[] out;
    Thread caller;
    int tiles;
    int next;  // the next tile to hand out; under the monitor of pending
    final AtomicInteger unfinished = new AtomicInteger();
    volatile Throwable failure;
  }

  public Scorer(Hiformer model, int threads, int tile) {
    if (threads <= 0 || tile <= 0) {
      throw new IllegalArgumentException("threads and tile must be positive, got " + threads + ", " + tile);
    }
    this.model = model;
    this.tile = tile;
    this.tasks = model.config().numTasks();
    this.perWorker = new Activations[threads];
    this.workers = new Thread[threads];
    for (int i = 0; i < threads; i++) {
      perWorker[i] = new Activations(model.config(), tile, false);
    }
    for (int i = 0; i < threads; i++) {
      int worker = i;
      workers[i] = Thread.ofPlatform().daemon().name("hiformer-scorer-" + i).start(() -> work(worker));
    }
  }

  public Scorer(Hiformer model, int threads) {
    this(model, threads, DEFAULT_TILE);
  }

  public Hiformer model() {
    return model;
  }

  @Override
  public void score(Batch batch, float[] logits) {
    if (logits.length < batch.size() * tasks) {
      throw new IllegalArgumentException("logits needs " + batch.size() * tasks + " floats, has " + logits.length);
    }
    int tiles = (batch.size() + tile - 1) / tile;
    if (tiles == 0) {
      return;
    }
    Call call;
    Activations own;
    synchronized (pending) {
      if (closed) {
        throw new IllegalStateException("scorer is closed");
      }
      call = spare.isEmpty() ? new Call() : spare.pop();
      call.batch = batch;
      call.out = logits;
      call.caller = Thread.currentThread();
      call.tiles = tiles;
      call.next = 0;
      call.failure = null;
      call.unfinished.set(tiles);
      own = callerActivations.poll();
      if (own == null && callerActivationsMade < workers.length) {
        callerActivationsMade++;
        own = new Activations(model.config(), tile, false);
      }
      if (tiles > 1 || own == null) {
        pending.addLast(call);
      }
    }
    if (tiles > 1 || own == null) {
      for (Thread w : workers) {
        LockSupport.unpark(w);
      }
    }
    if (own != null) {
      scoreOwnTiles(call, own);
    }
    while (call.unfinished.get() != 0) {
      LockSupport.park(this);
    }
    Throwable failure = call.failure;
    call.batch = null;
    call.out = null;
    call.caller = null;
    synchronized (pending) {
      spare.push(call);
      if (own != null) {
        callerActivations.push(own);
      }
    }
    if (failure instanceof RuntimeException e) {
      throw e;
    }
    if (failure instanceof Error e) {
      throw e;
    }
    if (failure != null) {
      throw new IllegalStateException(failure);
    }
  }

  /** The caller's share: tiles of its own call, until none is left to hand out. */
  private void scoreOwnTiles(Call call, Activations act) {
    while (true) {
      int piece;
      synchronized (pending) {
        if (call.next == call.tiles) {
          return;
        }
        piece = call.next++;
        if (call.next == call.tiles && call.tiles > 1) {
          pending.remove(call);
        }
      }
      try {
        if (call.failure == null) {
          scoreTile(call, piece, act);
        }
      } catch (Throwable t) {
        call.failure = t;
      }
      call.unfinished.decrementAndGet();
    }
  }

  private void work(int worker) {
    Activations act = perWorker[worker];
    while (true) {
      Call call;
      int piece = 0;
      synchronized (pending) {
        call = pending.peekFirst();
        if (call != null) {
          piece = call.next++;
          if (call.next == call.tiles) {
            pending.pollFirst();
          }
        } else if (closed) {
          return;
        }
      }
      if (call == null) {
        LockSupport.park(this);  // a permit from a call queued since the check makes this return at once
        continue;
      }
      try {
        if (call.failure == null) {
          scoreTile(call, piece, act);
        }
      } catch (Throwable t) {
        call.failure = t;
      }
      if (call.unfinished.decrementAndGet() == 0) {
        LockSupport.unpark(call.caller);
      }
    }
  }

  private void scoreTile(Call call, int piece, Activations act) {
    int from = piece * tile;
    int n = Math.min(tile, call.batch.size() - from);
    model.forward(call.batch, from, n, act);
    System.arraycopy(act.logits, 0, call.out, from * tasks, n * tasks);
  }

  @Override
  public String description() {
    return "cpu " + model.kernels().name() + " x" + perWorker.length;
  }

  /** Stops the workers once the calls already queued are done; later calls are refused. */
  @Override
  public void close() {
    synchronized (pending) {
      closed = true;
    }
    for (Thread w : workers) {
      LockSupport.unpark(w);
    }
  }
}
