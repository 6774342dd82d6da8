package io.hiformer.model;

import java.util.ArrayDeque;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * Inference over whole batches: splits each batch into tiles small enough to keep a tile's
 * activations in cache, and scores them on a fixed number of cores.
 *
 * <p>A scorer of N cores has N core permits, each with its own {@link Activations}; a thread scores
 * only while it holds one, so at most N threads score at any moment, callers included, however
 * many calls are in flight. A caller that finds a core free and no call waiting scores tiles of its
 * own call (a one-tile batch then never waits for another thread to wake) and gives the core back
 * once its call has no tile left to hand out; N workers take the other tiles, oldest call first,
 * each keeping its core while tiles are queued. One call alone thus runs on the caller and N - 1
 * workers; under load the next call's tiles fill the gap left while the last tiles of the previous
 * one finish, and calls finish in the order they came (a lock held for a whole call would let a
 * caller overtake others without bound). Once warm, {@link #score} allocates nothing.
 *
 * <p>Scores do not depend on the number of cores: a tile is the same work whichever thread runs it.
 */
public final class CpuScorer implements LogitScorer {
  /** Examples per tile: measured best for ref-serving on AVX-512 (see the model README). */
  public static final int DEFAULT_TILE = 32;

  private final Hiformer model;
  private final int tile;
  private final int tasks;
  private final int cores;
  private final boolean callerScores;
  private final Thread[] workers;

  // The monitor of pending guards the fields below and Call.next; it is held for a few instructions at
  // a time. Idle workers park; a queued call, or a core given back while calls wait, unparks them.
  private final ArrayDeque<Call> pending = new ArrayDeque<>();
  private final ArrayDeque<Call> spare = new ArrayDeque<>();
  /** The free cores: a thread takes one, with its activations, to score, and gives it back. */
  private final ArrayDeque<Activations> freeCores = new ArrayDeque<>();
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

  /** A scorer on {@code cores} cores: at most that many threads score at once, callers included. */
  public CpuScorer(Hiformer model, int cores, int tile) {
    this(model, cores, tile, true);
  }

  /**
   * {@code callerScores} false: callers hand every tile to the workers and wait, the other design
   * for N cores, kept so that {@code ForwardBenchmark} can time both.
   */
  CpuScorer(Hiformer model, int cores, int tile, boolean callerScores) {
    if (cores <= 0 || tile <= 0) {
      throw new IllegalArgumentException("cores and tile must be positive, got " + cores + ", " + tile);
    }
    this.model = model;
    this.tile = tile;
    this.tasks = model.config().numTasks();
    this.cores = cores;
    this.callerScores = callerScores;
    for (int i = 0; i < cores; i++) {
      freeCores.push(new Activations(model.config(), tile, false));
    }
    this.workers = new Thread[cores];
    for (int i = 0; i < cores; i++) {
      workers[i] = Thread.ofPlatform().daemon().name("hiformer-scorer-" + i).start(this::work);
    }
  }

  public CpuScorer(Hiformer model, int cores) {
    this(model, cores, DEFAULT_TILE);
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
    Activations core;
    boolean wake;
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
      core = callerScores && pending.isEmpty() ? freeCores.poll() : null;  // behind waiting calls, not ahead
      boolean queued = tiles > 1 || core == null;
      if (queued) {
        pending.addLast(call);
      }
      // with no core free, whoever holds one takes the call: a worker when done with its tile, a caller
      // when it gives its core back
      wake = queued && !freeCores.isEmpty();
    }
    if (wake) {
      unparkWorkers();
    }
    if (core != null) {
      scoreOwnTiles(call, core);
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

  /** The caller's share: tiles of its own call until none is left to hand out; then the core goes back. */
  private void scoreOwnTiles(Call call, Activations core) {
    while (true) {
      int piece;
      boolean waiting;
      synchronized (pending) {
        if (call.next == call.tiles) {
          freeCores.push(core);
          waiting = !pending.isEmpty();
          piece = -1;
        } else {
          waiting = false;
          piece = call.next++;
          if (call.next == call.tiles && call.tiles > 1) {
            pending.remove(call);
          }
        }
      }
      if (piece < 0) {
        if (waiting) {
          unparkWorkers();  // calls queued while every core was busy: a worker takes this one
        }
        return;
      }
      try {
        if (call.failure == null) {
          scoreTile(call, piece, core);
        }
      } catch (Throwable t) {
        call.failure = t;
      }
      call.unfinished.decrementAndGet();
    }
  }

  private void work() {
    Activations core = null;
    while (true) {
      Call call;
      int piece = 0;
      boolean exit = false;
      synchronized (pending) {
        call = pending.peekFirst();
        if (call != null && core == null) {
          core = freeCores.poll();
          if (core == null) {
            call = null;  // every core busy: wait until one is given back
          }
        }
        if (call != null) {
          piece = call.next++;
          if (call.next == call.tiles) {
            pending.pollFirst();
          }
        } else {
          if (core != null) {
            freeCores.push(core);  // nothing queued: an idle worker holds no core
            core = null;
          }
          // calls still queued wait for a core a caller holds: stay to take it when it is given back
          exit = closed && pending.isEmpty();
        }
      }
      if (exit) {
        unparkWorkers();  // the others may have parked for such calls since the close
        return;
      }
      if (call == null) {
        LockSupport.park(this);  // a permit from an unpark since the check makes this return at once
        continue;
      }
      try {
        if (call.failure == null) {
          scoreTile(call, piece, core);
        }
      } catch (Throwable t) {
        call.failure = t;
      }
      if (call.unfinished.decrementAndGet() == 0) {
        LockSupport.unpark(call.caller);
      }
    }
  }

  private void unparkWorkers() {
    for (Thread w : workers) {
      LockSupport.unpark(w);
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
    return "cpu " + model.kernels().name() + " x" + cores;
  }

  /** Stops the workers once the calls already queued are done; later calls are refused. */
  @Override
  public void close() {
    synchronized (pending) {
      closed = true;
    }
    unparkWorkers();
  }
}
