package io.hiformer.ranker;

import io.hiformer.features.kafka.TopicNames;
import io.hiformer.features.online.StoreChoice;
import io.hiformer.features.ranklog.RankLogWriter;
import io.hiformer.model.ModelRegistry;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A running ranker, built from {@link Options}: the one entry point of this module ({@code hiformer
 * serve} and the demo both start one). {@link #start} loads and checks the served versions (or,
 * with none in the registry yet, waits for the first), keeps them current from registry polls, the
 * experiments file and, with Kafka, announcements; with Kafka it also fills features from the
 * online store and writes the rank log; then it serves the gRPC Rank API (with health and
 * reflection) and HTTP metrics and probes. {@link #close} drains calls in flight and stops all of it.
 */
public final class Ranker implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger(Ranker.class.getName());
  /** The default most Rank calls in flight at once; more are shed with RESOURCE_EXHAUSTED. */
  public static final int DEFAULT_MAX_CONCURRENT_CALLS = RankerServer.DEFAULT_MAX_CONCURRENT_CALLS;
  /** The default most concurrent calls (HTTP/2 streams) on one client connection. */
  public static final int DEFAULT_MAX_CALLS_PER_CONNECTION = RankerServer.DEFAULT_MAX_CALLS_PER_CONNECTION;

  /**
   * What a ranker serves and how: immutable, each {@code with} method returns a changed copy. Start
   * from {@link #of}; the defaults are those of {@code hiformer serve}. Values are checked where
   * they are used (the server's own settings, the scoring backend), so the {@code serve} command
   * checks its options first, naming them.
   */
  public static final class Options implements Cloneable {
    private ModelRegistry registry;
    private String model;
    private String version = ModelRegistry.LATEST;
    private Path experiments;
    private Duration experimentsPoll = Duration.ofSeconds(10);
    private Duration registryPoll = Duration.ofSeconds(10);
    private int threads = Runtime.getRuntime().availableProcessors();
    private ScoringBackend scoring = ScoringBackend.CPU;
    private int maxCandidates = RankOptions.DEFAULTS.maxCandidates();
    private InetSocketAddress address = new InetSocketAddress(50051);
    private int maxMessageBytes = RankerServer.DEFAULT_MAX_INBOUND_MESSAGE_BYTES;
    private int maxConcurrentCalls = DEFAULT_MAX_CONCURRENT_CALLS;
    private Duration requestTimeout = RankerServer.DEFAULT_REQUEST_MESSAGE_TIMEOUT;
    private int maxCallsPerConnection = DEFAULT_MAX_CALLS_PER_CONNECTION;
    private RankerServer.Tls tls;
    private List<String> tokens = List.of();
    private InetSocketAddress metricsAddress = new InetSocketAddress(MetricsServer.DEFAULT_PORT);
    private String bootstrapServers;
    private TopicNames topics = TopicNames.DEFAULT;
    private RankLogWriter.Options rankLog = RankLogWriter.Options.DEFAULTS;
    private Path featureSchema;
    private StoreChoice store = StoreChoice.DEFAULT;
    private int itemCacheRows = ItemRowCache.DEFAULT_MAX_ROWS;

    private Options() {}

    /** Serves {@code latest} of {@code model} from {@code registry}, with every other setting at its default. */
    public static Options of(ModelRegistry registry, String model) {
      Options o = new Options();
      o.registry = Objects.requireNonNull(registry, "registry");
      o.model = Objects.requireNonNull(model, "model");
      return o;
    }

    /** A copy changed by {@code change}: every {@code with} method is one line, so a new option is one field and one method. */
    private Options with(java.util.function.Consumer<Options> change) {
      try {
        Options o = (Options) super.clone();
        change.accept(o);
        return o;
      } catch (CloneNotSupportedException e) {
        throw new AssertionError(e);
      }
    }

    /** The version number, alias or {@code latest} served as the single arm (unless {@link #withExperiments}). */
    public Options withVersion(String ref) {
      return with(o -> o.version = Objects.requireNonNull(ref, "version"));
    }

    /** Serves the arms of this experiments file instead of {@link #withVersion}, re-read every {@code poll}. */
    public Options withExperiments(Path file, Duration poll) {
      if (file != null && (poll.isNegative() || poll.isZero())) {
        throw new IllegalArgumentException("the experiments poll interval must be positive, got " + poll);
      }
      return with(o -> {
        o.experiments = file;
        o.experimentsPoll = poll;
      });
    }

    /** How often the registry is checked for new targets of what is served; zero: never. */
    public Options withRegistryPoll(Duration poll) {
      return with(o -> o.registryPoll = poll);
    }

    /** Scoring cores per model, and where and how models are scored. */
    public Options withScoring(int threads, ScoringBackend scoring) {
      return with(o -> {
        o.threads = threads;
        o.scoring = Objects.requireNonNull(scoring, "scoring");
      });
    }

    public Options withMaxCandidates(int n) {
      return with(o -> o.maxCandidates = n);
    }

    /**
     * About the most item rows each served version keeps transformed (see the ranker README, "Item
     * row cache"); 0 transforms every candidate on every call.
     */
    public Options withItemCacheRows(int rows) {
      return with(o -> o.itemCacheRows = rows);
    }

    /** The gRPC address (port 0: an ephemeral one, see {@link Ranker#port()}). */
    public Options withAddress(InetSocketAddress address) {
      return with(o -> o.address = Objects.requireNonNull(address, "address"));
    }

    /**
     * What one client may hold: the largest request message, Rank calls in flight (server-wide),
     * how long a call's request may take to arrive after its headers, and calls on one connection.
     */
    public Options withLimits(int maxMessageBytes, int maxConcurrentCalls, Duration requestTimeout,
        int maxCallsPerConnection) {
      return with(o -> {
        o.maxMessageBytes = maxMessageBytes;
        o.maxConcurrentCalls = maxConcurrentCalls;
        o.requestTimeout = requestTimeout;
        o.maxCallsPerConnection = maxCallsPerConnection;
      });
    }

    /** TLS from PEM files (null {@code certChain}: plaintext); with {@code clientCa}, mutual TLS. */
    public Options withTls(Path certChain, Path privateKey, Path clientCa) {
      return with(o -> o.tls = certChain == null ? null : new RankerServer.Tls(certChain, privateKey, clientCa));
    }

    /** Bearer tokens Rank and reflection calls must carry (empty: none required). */
    public Options withTokens(List<String> tokens) {
      return with(o -> o.tokens = List.copyOf(tokens));
    }

    /** Where GET /metrics, /live and /ready answer (port 0: an ephemeral one, see {@link Ranker#metricsPort()}). */
    public Options withMetricsAddress(InetSocketAddress address) {
      return with(o -> o.metricsAddress = Objects.requireNonNull(address, "metricsAddress"));
    }

    /**
     * Kafka (null or blank: none): follow announcements on {@code topics}' models topic, fill
     * features from its feature topics and write the rank log with {@code rankLog}'s settings.
     */
    public Options withKafka(String bootstrapServers, TopicNames topics, RankLogWriter.Options rankLog) {
      return with(o -> {
        o.bootstrapServers = bootstrapServers == null || bootstrapServers.isBlank() ? null : bootstrapServers;
        o.topics = Objects.requireNonNull(topics, "topics");
        o.rankLog = Objects.requireNonNull(rankLog, "rankLog");
      });
    }

    /**
     * With Kafka, the online store: the schema file whose user and item fields it holds (null: the
     * fields of the models served at start), and which store (in the heap with at most so many
     * users, and as many items, or every entity on local disk in RocksDB).
     */
    public Options withFeatureStore(Path featureSchema, StoreChoice store) {
      return with(o -> {
        o.featureSchema = featureSchema;
        o.store = Objects.requireNonNull(store, "store");
      });
    }

    boolean kafka() {
      return bootstrapServers != null;
    }

    String bootstrapServers() {
      return bootstrapServers;
    }

    TopicNames topics() {
      return topics;
    }

    RankLogWriter.Options rankLog() {
      return rankLog;
    }

    Path featureSchema() {
      return featureSchema;
    }

    StoreChoice store() {
      return store;
    }

    RankerServer.Settings serverSettings() {
      return RankerServer.Settings.of(address).withLimits(maxMessageBytes, maxConcurrentCalls).withTls(tls)
          .withTokens(tokens).withRequestMessageTimeout(requestTimeout)
          .withConnections(RankerServer.Connections.DEFAULTS.withMaxCallsPerConnection(maxCallsPerConnection));
    }
  }

  private final Options options;
  private final PrintStream out;
  private final AtomicBoolean stopping = new AtomicBoolean();
  /** What {@link #close} stops, in the order it stops them. */
  private final List<AutoCloseable> running = new ArrayList<>();
  private RankService service;
  private RankerServer server;
  private MetricsServer metrics;
  private String description;
  private boolean closed;

  private Ranker(Options options, PrintStream out) {
    this.options = Objects.requireNonNull(options, "options");
    this.out = Objects.requireNonNull(out, "out");
  }

  /**
   * Starts a ranker as {@code options} say, printing one line per step to {@code out} (where
   * models score, what is served on which ports, the topics followed). Throws, having stopped what
   * it started, when a served version does not load or check, a file or option is unusable, or,
   * with no registry polls and no Kafka, the version does not exist (nothing would bring it).
   */
  public static Ranker start(Options options, PrintStream out) throws IOException {
    Ranker r = new Ranker(options, out);
    try {
      r.open();
    } catch (IOException | RuntimeException e) {
      r.close();
      throw e;
    }
    return r;
  }

  private void open() throws IOException {
    Options o = options;
    // The item row cache knows a stored item is unchanged by its snapshot's identity; the RocksDB
    // store decodes a new snapshot on every read, so with it every lookup would miss and churn.
    int itemCacheRows = o.store.kind() == StoreChoice.Kind.ROCKSDB ? 0 : o.itemCacheRows;
    RankOptions rankOptions = RankOptions.DEFAULTS.withMaxCandidates(o.maxCandidates).withItemCacheRows(itemCacheRows);
    RegistryWatcher watcher;
    CompletionStage<?> ready;
    if (o.experiments != null) {
      ScheduledExecutorService poller = Executors.newSingleThreadScheduledExecutor(task -> {
        Thread t = new Thread(task, "hiformer-experiments-poll");
        t.setDaemon(true);
        return t;
      });
      ExperimentsWatcher experiments;
      try {
        experiments = new ExperimentsWatcher(o.experiments, o.registry, o.model, o.threads, o.scoring, rankOptions);
      } catch (IOException | RuntimeException e) {
        poller.shutdownNow();
        throw e;
      }
      // Closed after the watcher (the list closes last-added first): as before, polls end last.
      running.add(() -> {
        poller.shutdownNow();
        poller.awaitTermination(10, TimeUnit.SECONDS);
      });
      running.add(experiments);
      watcher = experiments.models();
      RankerKafka kafka = startKafka(watcher);
      long pollMs = o.experimentsPoll.toMillis();
      poller.scheduleWithFixedDelay(() -> {
        try {
          experiments.reloadIfChanged();
        } catch (RuntimeException e) {
          LOG.log(System.Logger.Level.WARNING, "experiments reload failed: " + e);
        }
      }, pollMs, pollMs, TimeUnit.MILLISECONDS);
      startPolling(watcher);
      service = watcher.service();
      out.printf("scoring on %s%n", service.model().scorer().description());
      description = String.format("%s arms %s from %s", o.model,
          service.arms().arms().stream().map(a -> a.name() + "=v" + a.model().version()).toList(), o.experiments);
      ready = kafka.ready();
    } else {
      Optional<ModelRegistry.Version> v = o.registry.resolve(o.model, o.version);
      if (v.isEmpty()) {
        String none = "model '" + o.model + "' in registry " + o.registry.root() + " has no version or alias '"
            + o.version + "'";
        if (o.registryPoll.isZero() && !o.kafka()) {
          throw new java.util.NoSuchElementException(none); // nothing would ever bring a version
        }
        // A fresh deployment's registry is empty until the first training: wait for it, not ready.
        out.printf("%s; waiting for it: health says NOT_SERVING and Rank answers UNAVAILABLE until it appears%n", none);
      }
      watcher = new RegistryWatcher(o.registry, o.model, RegistryWatcher.single(o.version), o.threads, o.scoring,
          rankOptions, v.isEmpty());
      running.add(watcher);
      RankerKafka kafka = startKafka(watcher);
      startPolling(watcher);
      service = watcher.service();
      if (v.isEmpty()) {
        description = o.model + " " + o.version + " (no version yet)";
      } else {
        out.printf("scoring on %s%n", service.model().scorer().description());
        description = o.model + " v" + service.model().version()
            + (o.version.equals(Long.toString(v.get().number())) ? "" : " (" + o.version + ")");
      }
      CompletionStage<?> features = kafka.ready();
      ready = features == null ? watcher.serving()
          : CompletableFuture.allOf(watcher.serving(), features.toCompletableFuture());
    }
    serve(ready);
  }

  private RankerKafka startKafka(RegistryWatcher watcher) throws IOException {
    RankerKafka kafka = RankerKafka.start(options, watcher, out);
    running.add(kafka);
    return kafka;
  }

  private void startPolling(RegistryWatcher watcher) {
    if (!options.registryPoll.isZero()) {
      watcher.start(options.registryPoll);
    }
  }

  /** Starts the metrics server and the gRPC server; health says SERVING once {@code ready} completes (null: at once). */
  private void serve(CompletionStage<?> ready) throws IOException {
    // /ready says what health says: SERVING once what the settings wait for is done, until stopping.
    CompletableFuture<?> done = ready == null ? CompletableFuture.completedFuture(null) : ready.toCompletableFuture();
    metrics = MetricsServer.start(options.metricsAddress, service.metrics()::scrape,
        () -> done.isDone() && !stopping.get());
    // Stopped before the models and streams, in this order: calls drain first.
    running.add(metrics);
    RankerServer.Settings settings = options.serverSettings().withReady(ready);
    server = RankerServer.start(settings, service);
    running.add(server);
    // the "scoring on" line before it says where models score, and with how many threads
    out.printf("serving %s on port %d%s%n", description, server.port(),
        settings.tls() == null ? "" : settings.tls().clientCa() == null ? " with TLS" : " with mutual TLS");
    out.printf("metrics on port %d (GET /metrics, /live, /ready)%n", metrics.port());
    out.flush();
  }

  /** The gRPC port (the ephemeral one picked for port 0). */
  public int port() {
    return server.port();
  }

  /** The metrics and probes port (the ephemeral one picked for port 0). */
  public int metricsPort() {
    return metrics.port();
  }

  /** The registry the metrics server exports; bind further meters (e.g. the JVM's) to it. */
  public MeterRegistry meterRegistry() {
    return service.metrics().registry();
  }

  /** The most Rank calls in flight at once, as the server applies it. */
  public int maxConcurrentCalls() {
    return server.concurrencyLimit().limit();
  }

  /** Blocks until the gRPC server has terminated (after {@link #close}, from any thread). */
  public void awaitTermination() throws InterruptedException {
    server.awaitTermination();
  }

  /**
   * Stops taking calls (health and /ready say so at once), drains calls in flight, then stops the
   * metrics server, Kafka, polling and the models. Idempotent; a second caller waits for the first.
   */
  @Override
  public synchronized void close() {
    stopping.set(true);
    if (closed) {
      return;
    }
    closed = true;
    for (int i = running.size() - 1; i >= 0; i--) {
      try {
        running.get(i).close();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } catch (Exception e) {
        LOG.log(System.Logger.Level.WARNING, "stopping the ranker: " + e);
      }
    }
    running.clear();
  }
}
