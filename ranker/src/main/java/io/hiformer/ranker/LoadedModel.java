package io.hiformer.ranker;

import io.hiformer.features.Featurizer;
import io.hiformer.features.Transforms;
import io.hiformer.features.VerifiedModel;
import io.hiformer.model.LogitScorer;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.ModelRegistry;
import io.hiformer.model.Parameters;
import io.hiformer.model.CpuScorer;
import java.io.IOException;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One servable model version: a {@link VerifiedModel} (parameters and the feature transforms
 * stored with them) with a running scorer. Immutable; shared by all calls that started while it was current.
 *
 * <p>{@link Featurizer} is not thread-safe, so {@link #featurizer()} hands out one per thread.
 * The {@link CpuScorer} takes concurrent calls (their tiles share its workers) and allocates nothing.
 *
 * <p>Reference counted, so a model that is swapped out is closed once the calls that started on
 * it have finished, not after a guessed delay: whoever loads it holds one reference, which
 * {@link #close()} gives up; each Rank call takes one ({@link #retain()}) and gives it back
 * ({@link #release()}). The scorer's threads stop when the last reference is gone.
 */
public final class LoadedModel implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger(LoadedModel.class.getName());
  /**
   * ScoringBackend passes over a check batch before the first model of a config serves in this JVM:
   * enough for the JIT to compile the forward pass.
   */
  static final int CHECK_PASSES = 20;
  /**
   * Configs whose forward pass has been compiled by such passes. A later version of one (a swap)
   * is checked with a single pass over one tile instead, which its calling thread scores alone:
   * twenty passes over every scoring thread would take the CPU from the calls being served.
   */
  private static final Set<ModelConfig> COMPILED = ConcurrentHashMap.newKeySet();
  /** Request buffers kept for reuse; more than this many calls at once allocate their own. */
  private static final int POOLED_SCRATCH = 64;

  private final VerifiedModel verified;
  private final LogitScorer scorer;
  private final ThreadLocal<Featurizer> featurizers;
  private final ArrayBlockingQueue<CallBuffers> scratch = new ArrayBlockingQueue<>(POOLED_SCRATCH);
  /** The owner's reference plus one per call in flight; 0 once closed. */
  private final AtomicInteger references = new AtomicInteger(1);
  private final AtomicBoolean ownerReleased = new AtomicBoolean();
  private final CountDownLatch closed = new CountDownLatch(1);
  /** Item rows transformed by this version; set by the first {@link #itemRows} call. */
  private ItemRowCache itemRows;
  private boolean itemRowsSet;

  private LoadedModel(VerifiedModel verified, ScoringBackend scoring, int threads) {
    this.verified = Objects.requireNonNull(verified, "verified");
    this.scorer = scoring.open(verified.parameters(), threads);
    this.featurizers = ThreadLocal.withInitial(() -> new Featurizer(verified.transforms()));
  }

  /**
   * Reads and verifies {@code version} ({@link VerifiedModel#load}), starts its scorer on the CPU
   * with {@code threads} threads and checks it ({@link #start}). For tools and tests that score
   * one version outside a ranker; the ranker itself goes through {@link #start}.
   */
  public static LoadedModel load(ModelRegistry registry, ModelRegistry.Version version, int threads)
      throws IOException {
    return start(VerifiedModel.load(registry, version), ScoringBackend.CPU, threads);
  }

  /**
   * Starts {@code model}'s scorer as {@code scoring} says, on {@code threads} cores (at most that
   * many threads score at once), and checks that it scores rows of missing values as finite numbers
   * ({@link VerifiedModel#requireFiniteScores}). For the first model of its config in this JVM the
   * check is {@link #CHECK_PASSES} passes over two tiles a thread, which compiles the forward pass
   * before the first call arrives (interpreted, the vector kernels are some hundred times slower);
   * for later ones, one pass over one tile.
   */
  static LoadedModel start(VerifiedModel model, ScoringBackend scoring, int threads) {
    LoadedModel m = new LoadedModel(model, scoring, threads);
    try {
      ModelConfig c = model.config();
      boolean compiled = COMPILED.contains(c);
      model.requireFiniteScores(m.scorer, compiled ? CpuScorer.DEFAULT_TILE : 2 * CpuScorer.DEFAULT_TILE * threads,
          compiled ? 1 : CHECK_PASSES);
      COMPILED.add(c);
    } catch (RuntimeException e) {
      m.close();
      throw e;
    }
    return m;
  }

  /** The verified parameters and transforms this model scores with. */
  public VerifiedModel verified() {
    return verified;
  }

  public String name() {
    return verified.name();
  }

  public long version() {
    return verified.version();
  }

  public Parameters parameters() {
    return verified.parameters();
  }

  public Transforms transforms() {
    return verified.transforms();
  }

  public LogitScorer scorer() {
    return scorer;
  }

  /** This thread's featurizer for this model. */
  public Featurizer featurizer() {
    return featurizers.get();
  }

  /**
   * Takes a reference for a call; false when the model is already closed (the caller then reads
   * the current model again: a model is only closed after it has been replaced).
   */
  boolean retain() {
    for (int r = references.get(); r > 0; r = references.get()) {
      if (references.compareAndSet(r, r + 1)) {
        return true;
      }
    }
    return false;
  }

  /** Gives back a reference taken by {@link #retain()}; the last one closes the model. */
  void release() {
    if (references.decrementAndGet() == 0) {
      scorer.close();
      scratch.clear();
      closed.countDown();
      LOG.log(System.Logger.Level.DEBUG, () -> this + " closed");
    }
  }

  /** True while a call holds a reference ({@link #retain()}) besides the owner's. */
  boolean inUse() {
    return references.get() > 1;
  }

  /** True once the last reference is gone and the scorer's threads have been told to stop. */
  public boolean isClosed() {
    return closed.getCount() == 0;
  }

  /** Waits until {@link #isClosed()}; false when {@code millis} passed first. */
  public boolean awaitClosed(long millis) throws InterruptedException {
    return closed.await(millis, java.util.concurrent.TimeUnit.MILLISECONDS);
  }

  /**
   * This version's item row cache, of about {@code maxRows} rows (0: none, null returned). The
   * first call decides the size; later calls get the same cache whatever they pass.
   */
  synchronized ItemRowCache itemRows(int maxRows) {
    if (!itemRowsSet) {
      itemRows = maxRows == 0 ? null : new ItemRowCache(maxRows);
      itemRowsSet = true;
    }
    return itemRows;
  }

  /** Reusable request buffers for {@code options}' columns and candidate limit; give them back with {@link #recycle}. */
  CallBuffers borrowScratch(RankOptions options) {
    CallBuffers s = scratch.poll();
    if (s != null && s.fits(options)) {
      return s;
    }
    return new CallBuffers(this, options);
  }

  void recycle(CallBuffers s) {
    scratch.offer(s);
  }

  /**
   * Gives up the loader's reference: the model closes now when no call holds it, else when the
   * last one finishes. Idempotent.
   */
  @Override
  public void close() {
    if (ownerReleased.compareAndSet(false, true)) {
      release();
    }
  }

  @Override
  public String toString() {
    return verified.toString();
  }
}
