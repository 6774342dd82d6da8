package io.hiformer.ranker;

import io.hiformer.features.VerifiedModel;
import io.hiformer.features.announce.AnnouncementListener;
import io.hiformer.model.ModelRegistry;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Keeps a {@link RankService} serving the versions its arms name: each arm names a version, an
 * alias or {@code latest} of one registry model; when an alias moves or a newer version appears,
 * the new version is loaded and verified on this watcher's own thread (never on a call's), then
 * switched in atomically. Calls in flight finish on the model they started with; a replaced model
 * is closed when the last of them ends ({@link LoadedModel} counts references).
 *
 * <p>News of a version comes from {@link #poll()} (every {@link #start} interval) or from an
 * announcement passed to {@link #offer}; both end in the same load-check-switch path. A version that
 * fails to load (hash mismatch, invalid file, no transforms, a task an arm's score names is missing)
 * is refused: one warning, {@code hiformer_model_refusals_total} + 1, the current models keep
 * serving, and the version is never tried again. So is one that would not fit in the heap, told by
 * its file's header before it is read ({@link VerifiedModel#load}), or that ran out of heap loading. Any other
 * failure of this watcher's thread is logged and counted in
 * {@code hiformer_model_watcher_failures_total}, and polling goes on.
 *
 * <p>Every change runs under this watcher's lock, so experiment reloads ({@link #apply}) and swaps
 * never interleave.
 */
final class RegistryWatcher implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger(RegistryWatcher.class.getName());

  private final ModelRegistry registry;
  private final String modelName;
  private final int threads;
  private final ScoringBackend scoring;
  private final RankService service;
  /** Versions requests pin that no arm serves, at most {@value #PINNED_VERSIONS} kept loaded. */
  static final int PINNED_VERSIONS = 2;
  private final PinnedVersions pinned;
  private final ScheduledExecutorService loader;
  /** Reads, hashes and parses model files at low CPU priority (nice 10), so calls keep their CPU. */
  private final java.util.concurrent.ExecutorService reader = LowPriority.executor("hiformer-model-reader");
  private final Set<Long> refused = java.util.concurrent.ConcurrentHashMap.newKeySet();
  /** Called before each version is read; only tests set it (to fail a load with an Error). */
  volatile java.util.function.Consumer<ModelRegistry.Version> beforeRead = v -> {};
  /** Completes when the service has models to serve (at once, unless {@link #awaiting}). */
  private final CompletableFuture<Void> serving = new CompletableFuture<>();
  // guarded by this
  private Experiments spec;
  private final Map<Long, LoadedModel> served = new HashMap<>();
  private boolean closed;

  /** Serves {@code ref} (a version, alias or {@code latest}) of {@code modelName} as the single arm "default". */
  RegistryWatcher(ModelRegistry registry, String modelName, String ref, int threads,
      RankOptions options) throws IOException {
    this(registry, modelName, single(ref), threads, options);
  }

  /**
   * Serves {@code spec}'s arms; fails (IllegalArgumentException, IOException or a model file's
   * exception) when a ref does not resolve or a version does not load.
   */
  RegistryWatcher(ModelRegistry registry, String modelName, Experiments spec, int threads,
      RankOptions options) throws IOException {
    this(registry, modelName, spec, threads, ScoringBackend.CPU, options, false);
  }


  /**
   * Serves {@code ref} of {@code modelName} once the registry has it (e.g. a fresh deployment's
   * empty registry): until then the service answers UNAVAILABLE and {@link #serving()} is pending;
   * {@link #start polling} or an {@link #offer announcement} brings the first version.
   */
  static RegistryWatcher awaiting(ModelRegistry registry, String modelName, String ref, int threads,
      RankOptions options) throws IOException {
    return new RegistryWatcher(registry, modelName, single(ref), threads, ScoringBackend.CPU, options, true);
  }

  /**
   * Serves {@code spec}'s arms, each model scored as {@code scoring} says on {@code threads} cores;
   * with {@code awaiting}, once the registry has them (see {@link #awaiting}).
   */
  RegistryWatcher(ModelRegistry registry, String modelName, Experiments spec, int threads, ScoringBackend scoring,
      RankOptions options, boolean awaiting) throws IOException {
    this.registry = Objects.requireNonNull(registry, "registry");
    this.modelName = Objects.requireNonNull(modelName, "modelName");
    this.threads = threads;
    this.scoring = Objects.requireNonNull(scoring, "scoring");
    this.spec = Objects.requireNonNull(spec, "spec");
    Map<Long, LoadedModel> models = new HashMap<>();
    ServedArms arms = null;
    if (!awaiting) {
      try {
        arms = build(spec, resolve(spec), models);
      } catch (IOException | RuntimeException e) {
        reader.shutdownNow();
        throw e;
      }
    }
    served.putAll(models);
    this.service = arms == null ? RankService.awaitingModel(options) : new RankService(arms, options);
    if (arms != null) {
      serving.complete(null);
    }
    service.pinFrom(pinned = new PinnedVersions(registry, modelName, v -> LoadedModel.start(read(v), scoring, threads),
        PINNED_VERSIONS));
    this.loader = Executors.newSingleThreadScheduledExecutor(task -> {
      Thread t = new Thread(task, "hiformer-model-loader");
      t.setDaemon(true);
      return t;
    });
  }

  /** The one-arm spec: arm {@value RankService#DEFAULT_ARM}, all traffic, mean score. */
  static Experiments single(String ref) {
    return new Experiments("", List.of(new Experiments.Arm(RankService.DEFAULT_ARM, ref, 1, Experiments.Score.MEAN)));
  }

  public RankService service() {
    return service;
  }

  /** Completes once the service serves a model: at construction, or with the first version {@link #awaiting}. */
  public CompletableFuture<Void> serving() {
    return serving;
  }

  /** The versions loaded for requests that pin them. */
  PinnedVersions pinnedVersions() {
    return pinned;
  }

  /** Polls the registry every {@code interval} on this watcher's thread, starting one interval from now. */
  public void start(Duration interval) {
    long ms = interval.toMillis();
    if (ms < 1) {
      throw new IllegalArgumentException("the poll interval must be positive, got " + interval);
    }
    loader.scheduleWithFixedDelay(() -> {
      try {
        poll();
      } catch (IOException | RuntimeException e) {
        LOG.log(Level.WARNING, "registry poll for model " + modelName + " failed: " + e);
      } catch (Throwable e) {
        // Anything escaping would cancel the schedule: hot swap would stop for good, silently.
        failed("registry poll", e);
      }
    }, ms, ms, TimeUnit.MILLISECONDS);
  }

  /**
   * An announcement that {@code version} of the served model exists, with {@code aliases} pointing at
   * it (e.g. from the Kafka {@code models} topic). On this watcher's thread, arms whose ref is that
   * version, one of the aliases, or {@code latest} (when it is newer than what they serve) switch to
   * it once it has loaded and verified. Completes with true when the served arms changed; an
   * announcement for another model, or of a refused version, changes nothing.
   */
  public CompletableFuture<Boolean> offer(String model, long version, Collection<String> aliases) {
    List<String> names = List.copyOf(aliases);
    if (!model.equals(modelName)) {
      return CompletableFuture.completedFuture(false);
    }
    try {
      return CompletableFuture.supplyAsync(() -> {
        try {
          return consider(version, names);
        } catch (Throwable e) {
          failed("announced version " + version, e);
          return false;
        }
      }, loader);
    } catch (java.util.concurrent.RejectedExecutionException closedAlready) {
      return CompletableFuture.completedFuture(false);
    }
  }

  /**
   * Follows the announcements of this watcher's model on the compacted Kafka {@code topic} (see
   * {@code ModelAnnouncer}) and {@link #offer}s each one; close the returned listener to stop. An
   * announcement whose SHA-256 is not the registry's for that version (another registry, or a
   * rewritten file) is refused: one warning and {@code hiformer_model_refusals_total} + 1.
   */
  public AnnouncementListener follow(String bootstrapServers, String topic) {
    return AnnouncementListener.start(bootstrapServers, topic, modelName, a -> {
      String sha;
      try {
        sha = registry.version(modelName, a.getVersion()).sha256();
      } catch (IOException | java.util.NoSuchElementException e) {
        LOG.log(Level.WARNING, "announced " + modelName + " v" + a.getVersion() + " is not in registry "
            + registry.root() + ": " + e.getMessage());
        return;
      }
      if (!sha.equals(a.getSha256())) {
        service.metrics().refused();
        LOG.log(Level.WARNING, "announced " + modelName + " v" + a.getVersion() + " has SHA-256 " + a.getSha256()
            + ", the registry's " + sha + "; refused");
        return;
      }
      offer(a.getModelName(), a.getVersion(), a.getAliasesList());
    });
  }

  /**
   * Resolves every arm's ref in the registry now and offers each version that differs from the one
   * served, on the calling thread. Returns true when the served arms changed.
   */
  public synchronized boolean poll() throws IOException {
    if (closed) {
      return false;
    }
    Map<String, Long> aliases = registry.aliases(modelName);
    boolean changed = false;
    for (Experiments.Arm arm : spec.arms()) {
      var now = registry.resolve(modelName, arm.model());
      if (now.isEmpty()) {
        continue; // an alias removed: keep serving what it pointed at
      }
      long v = now.get().number();
      if (v != servedVersion(arm.name())) {
        List<String> pointing = new ArrayList<>();
        aliases.forEach((alias, target) -> {
          if (target == v) {
            pointing.add(alias);
          }
        });
        changed |= consider(v, pointing);
      }
    }
    return changed;
  }

  /** Logs and counts an unexpected failure of the watcher's thread, which goes on polling. */
  private void failed(String what, Throwable e) {
    service.metrics().watcherFailed();
    LOG.log(Level.ERROR, what + " for model " + modelName + " failed unexpectedly: " + e
        + "; the watcher goes on polling");
  }

  /** The load-check-switch path shared by {@link #poll()} and {@link #offer}. */
  private synchronized boolean consider(long version, List<String> aliases) {
    if (closed || refused.contains(version)) {
      return false;
    }
    Map<String, ModelRegistry.Version> targets = new LinkedHashMap<>();
    ModelRegistry.Version offered = null;
    for (Experiments.Arm arm : spec.arms()) {
      long current = servedVersion(arm.name());
      String ref = arm.model();
      boolean points = ref.equals(Long.toString(version)) || aliases.contains(ref)
          || (ref.equals(ModelRegistry.LATEST) && version > current);
      if (points && version != current) {
        if (offered == null) {
          try {
            offered = registry.version(modelName, version);
          } catch (IOException | RuntimeException e) {
            // Not visible (yet): a later poll or announcement brings it.
            LOG.log(Level.INFO, "model " + modelName + " v" + version + " is not in the registry yet: " + e.getMessage());
            return false;
          }
        }
        targets.put(arm.name(), offered);
      }
    }
    if (targets.isEmpty()) {
      return false;
    }
    for (Experiments.Arm arm : spec.arms()) {
      targets.putIfAbsent(arm.name(), null);
    }
    Map<Long, LoadedModel> models = new HashMap<>();
    ServedArms next;
    long start = System.nanoTime();
    try {
      next = build(spec, targets, models);
    } catch (IOException | RuntimeException | OutOfMemoryError e) {
      refused.add(version);
      service.metrics().refused();
      LOG.log(Level.WARNING, "model " + modelName + " v" + version + " refused: "
          + (e instanceof Error ? e.toString() : e.getMessage())
          + "; keeping " + describe(service.arms()));
      return false;
    }
    install(next, models);
    LOG.log(Level.INFO, String.format(java.util.Locale.ROOT, "model %s v%d swapped in, loaded and checked in %.2f s: %s",
        modelName, version, (System.nanoTime() - start) / 1e9, describe(next)));
    return true;
  }

  /**
   * Serves {@code next}'s arms (an experiments file reload): resolves and loads what they name,
   * reusing versions already served, then switches. Throws, changing nothing, when a ref does not
   * resolve, a version does not load or a score names a task the model lacks.
   */
  public synchronized void apply(Experiments next) throws IOException {
    if (closed) {
      throw new IllegalStateException("the registry watcher is closed");
    }
    Map<Long, LoadedModel> models = new HashMap<>();
    ServedArms arms = build(next, resolve(next), models);
    spec = next;
    install(arms, models);
  }

  /** Every arm's ref resolved now; throws naming the arm whose ref does not resolve. */
  private Map<String, ModelRegistry.Version> resolve(Experiments e) throws IOException {
    Map<String, ModelRegistry.Version> out = new LinkedHashMap<>();
    for (Experiments.Arm a : e.arms()) {
      out.put(a.name(), registry.resolve(modelName, a.model()).orElseThrow(() -> new IllegalArgumentException(
          "arm '" + a.name() + "': 'model' " + a.model() + " is not a version or alias of model '" + modelName + "'")));
    }
    return out;
  }

  /**
   * The arms of {@code e} with each arm's target version (null: the one it serves now); fills
   * {@code models} with the models they use, loading those not served yet. Fresh loads are closed
   * when it fails.
   */
  private ServedArms build(Experiments e, Map<String, ModelRegistry.Version> targets,
      Map<Long, LoadedModel> models) throws IOException {
    List<LoadedModel> fresh = new ArrayList<>();
    try {
      List<ServedArm> arms = new ArrayList<>();
      for (Experiments.Arm a : e.arms()) {
        ModelRegistry.Version v = targets.get(a.name());
        long number = v == null ? servedVersion(a.name()) : v.number();
        LoadedModel m = models.get(number);
        if (m == null) {
          m = served.get(number);
          if (m == null) {
            m = LoadedModel.start(read(v), scoring, threads);
            fresh.add(m);
          }
          models.put(number, m);
        }
        arms.add(new ServedArm(a.name(), m, a.score().formula(a.name(), m.parameters().config().tasks())));
      }
      return new ServedArms(new ArmAssigner(e), arms);
    } catch (Throwable ex) {
      fresh.forEach(LoadedModel::close);
      throw ex;
    }
  }

  /**
   * {@link VerifiedModel#load} on the low-priority reader thread. The scorer is started back on the
   * calling thread, so its threads do not inherit the low priority.
   */
  private VerifiedModel read(ModelRegistry.Version v) throws IOException {
    beforeRead.accept(v);
    try {
      return reader.submit(() -> VerifiedModel.load(registry, v)).get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new java.io.InterruptedIOException("interrupted while reading " + v.model() + " v" + v.number());
    } catch (java.util.concurrent.ExecutionException e) {
      switch (e.getCause()) {
        case IOException io -> throw io;
        case RuntimeException re -> throw re;
        case Error err -> throw err;
        default -> throw new IllegalStateException(e.getCause());
      }
    }
  }

  /** Switches to {@code next} and closes the models it no longer uses (each once its calls end). */
  private void install(ServedArms next, Map<Long, LoadedModel> models) {
    service.setArms(next);
    serving.complete(null);
    Set<Long> gone = new HashSet<>(served.keySet());
    gone.removeAll(models.keySet());
    for (Long v : gone) {
      served.remove(v).close();
    }
    served.putAll(models);
  }

  /** The version arm {@code name} serves now, or -1 when no such arm is served. */
  private long servedVersion(String name) {
    if (service == null || service.arms() == null) {
      return -1; // still constructing, or awaiting the first version
    }
    ServedArm a = service.arms().arm(name);
    return a == null ? -1 : a.model().version();
  }

  private static String describe(ServedArms arms) {
    if (arms == null) {
      return "no model";
    }
    return arms.arms().stream().map(a -> a.name() + "=" + a.model()).toList().toString();
  }

  /**
   * Stops polling and loading, then gives up the served models (each closes once the calls holding
   * it end). Call after the server has stopped taking calls.
   */
  @Override
  public void close() {
    loader.shutdownNow();
    reader.shutdownNow();
    try {
      loader.awaitTermination(30, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    synchronized (this) {
      closed = true;
      served.values().forEach(LoadedModel::close);
      served.clear();
    }
    pinned.close();
  }
}
