package io.hiformer.model;

/**
 * Inference over whole batches: splits a batch into tiles small enough to keep a tile's
 * activations in cache, and runs the tiles on a fixed pool of threads, each with its own
 * {@link Activations}. After construction, {@link #score} allocates nothing.
 *
 * <p>One call at a time ({@code score} is synchronized); a service that wants more concurrency
 * uses several scorers.
 */
public final class Scorer implements BatchScorer {
  /** Examples per tile: measured best for ref-serving on AVX-512 (see the model README). */
  public static final int DEFAULT_TILE = 32;

  private final Hiformer model;
  private final int tile;
  private final WorkerPool pool;
  private final Activations[] perWorker;
  private final int tasks;
  private final WorkerPool.Job scoreTile = this::scoreTile;

  // the batch being scored; read by the workers between the pool's publish and completion
  private Batch batch;
  private float[] out;

  public Scorer(Hiformer model, int threads, int tile) {
    if (threads <= 0 || tile <= 0) {
      throw new IllegalArgumentException("threads and tile must be positive, got " + threads + ", " + tile);
    }
    this.model = model;
    this.tile = tile;
    this.tasks = model.config().numTasks();
    this.pool = new WorkerPool(threads, "hiformer-scorer");
    this.perWorker = new Activations[threads];
    for (int i = 0; i < threads; i++) {
      perWorker[i] = new Activations(model.config(), tile, false);
    }
  }

  public Scorer(Hiformer model, int threads) {
    this(model, threads, DEFAULT_TILE);
  }

  public Hiformer model() {
    return model;
  }

  @Override
  public synchronized void score(Batch batch, float[] logits) {
    if (logits.length < batch.size() * tasks) {
      throw new IllegalArgumentException("logits needs " + batch.size() * tasks + " floats, has " + logits.length);
    }
    this.batch = batch;
    this.out = logits;
    try {
      pool.run(scoreTile, (batch.size() + tile - 1) / tile);
    } finally {
      this.batch = null;
      this.out = null;
    }
  }

  @Override
  public String description() {
    return "cpu " + model.kernels().name() + " x" + perWorker.length;
  }

  private void scoreTile(int worker, int piece) {
    int from = piece * tile;
    int n = Math.min(tile, batch.size() - from);
    Activations act = perWorker[worker];
    model.forward(batch, from, n, act);
    System.arraycopy(act.logits, 0, out, from * tasks, n * tasks);
  }

  @Override
  public void close() {
    pool.close();
  }
}
