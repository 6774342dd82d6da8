package io.hiformer.ranker;

import io.hiformer.features.Featurizer;
import io.hiformer.features.Transforms;
import io.hiformer.model.Batch;
import io.hiformer.model.CpuScorer;
import io.hiformer.model.LogitScorer;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.ModelFile;
import io.hiformer.model.ModelRegistry;
import io.hiformer.model.Parameters;
import java.io.IOException;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One servable model version: its parameters, the feature transforms stored with it and a
 * {@link CpuScorer}. Immutable; shared by all calls that started while it was current.
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
   * Scoring passes over a check batch before the first model of a config serves in this JVM:
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

  private final String name;
  private final long version;
  private final Parameters parameters;
  private final Transforms transforms;
  private final LogitScorer scorer;
  private final ThreadLocal<Featurizer> featurizers;
  private final ArrayBlockingQueue<Scratch> scratch = new ArrayBlockingQueue<>(POOLED_SCRATCH);
  /** The owner's reference plus one per call in flight; 0 once closed. */
  private final AtomicInteger references = new AtomicInteger(1);
  private final AtomicBoolean ownerReleased = new AtomicBoolean();
  private final CountDownLatch closed = new CountDownLatch(1);
  /** When the registry published this version; null for a model not read from a registry. */
  private volatile java.time.Instant created;

  public LoadedModel(String name, long version, Parameters parameters, Transforms transforms, int threads) {
    this.name = Objects.requireNonNull(name, "name");
    this.version = version;
    this.parameters = Objects.requireNonNull(parameters, "parameters");
    this.transforms = Objects.requireNonNull(transforms, "transforms");
    if (!transforms.modelFields().equals(parameters.config().fields())) {
      throw new IllegalArgumentException("model " + name + " v" + version
          + ": the stored transforms do not produce the model's fields");
    }
    this.scorer = Scoring.current().open(parameters, threads);
    this.featurizers = ThreadLocal.withInitial(() -> new Featurizer(transforms));
  }

  /**
   * Verifies {@code version} (hash and model validation) and builds it; the transforms come from
   * the model file's metadata under {@link Transforms#METADATA_KEY}. Then scoring passes check
   * that it scores rows of missing values as finite numbers ({@link #check}).
   */
  public static LoadedModel load(ModelRegistry registry, ModelRegistry.Version version, int threads)
      throws IOException {
    return build(read(registry, version), threads);
  }

  /** A verified version's parameters and transforms: what {@link #build} makes servable. */
  record Read(ModelRegistry.Version version, Parameters parameters, Transforms transforms) {}

  /**
   * The expensive part of {@link #load}: hashing, validating and parsing the file; no threads
   * started. A file that would not fit in the free heap is refused first, from its header.
   */
  static Read read(ModelRegistry registry, ModelRegistry.Version version) throws IOException {
    HeapCheck.require(version);
    ModelFile.Loaded loaded = registry.verify(version);
    String json = loaded.metadata().get(Transforms.METADATA_KEY);
    if (json == null) {
      throw new IllegalArgumentException("model " + version.model() + " v" + version.number()
          + " has no '" + Transforms.METADATA_KEY + "' metadata; it cannot featurize requests");
    }
    return new Read(version, loaded.parameters(), Transforms.fromJson(json));
  }

  /** Starts {@code read}'s scorer on {@code threads} cores (at most that many threads score at once) and checks it. */
  static LoadedModel build(Read read, int threads) {
    LoadedModel m = new LoadedModel(read.version().model(), read.version().number(), read.parameters(),
        read.transforms(), threads);
    m.created = read.version().created();
    try {
      m.check(threads);
    } catch (RuntimeException e) {
      m.close();
      throw e;
    }
    return m;
  }

  /**
   * Scores a batch of all-missing rows and fails when a logit is not finite. For the first model
   * of its config this is {@link #CHECK_PASSES} passes over two tiles a thread, which compiles the
   * forward pass before the first call arrives (interpreted, the vector kernels are some hundred
   * times slower); for later ones, one pass over one tile.
   */
  private void check(int threads) {
    ModelConfig c = parameters.config();
    boolean compiled = COMPILED.contains(c);
    int n = compiled ? CpuScorer.DEFAULT_TILE : 2 * CpuScorer.DEFAULT_TILE * threads;
    int passes = compiled ? 1 : CHECK_PASSES;
    Batch batch = new Batch(c, n);
    int[] categorical = new int[c.categoricalFields().size()];
    int[][] bags = new int[c.bagFields().size()][0];
    float[] dense = new float[c.denseFields().size()];
    for (int i = 0; i < n; i++) {
      batch.add(categorical, bags, dense, null, null);
    }
    float[] logits = new float[n * c.numTasks()];
    for (int pass = 0; pass < passes; pass++) {
      scorer.score(batch, logits);
    }
    for (float x : logits) {
      if (!Float.isFinite(x)) {
        throw new IllegalArgumentException("model " + this + " scores rows of missing values as " + x
            + "; its weights are not usable");
      }
    }
    COMPILED.add(c);
  }

  public String name() {
    return name;
  }

  public long version() {
    return version;
  }

  /** When the registry published this version (null when it was not read from a registry). */
  public java.time.Instant created() {
    return created;
  }

  public Parameters parameters() {
    return parameters;
  }

  public Transforms transforms() {
    return transforms;
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

  /** Reusable request buffers for {@code options}' columns and candidate limit; give them back with {@link #recycle}. */
  Scratch borrowScratch(RankService.Options options) {
    Scratch s = scratch.poll();
    if (s != null && s.fits(options)) {
      return s;
    }
    return new Scratch(this, options);
  }

  void recycle(Scratch s) {
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
    return name + " v" + version;
  }
}
