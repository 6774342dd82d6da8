package io.hiformer.ops;

import io.hiformer.features.kafka.TopicNames;
import io.hiformer.features.online.FeatureStore;
import io.hiformer.features.online.StoreChoice;
import io.hiformer.features.ranklog.RankLogWriter;
import io.hiformer.kernels.cuda.Precision;
import io.hiformer.model.Backend;
import io.hiformer.model.ModelRegistry;
import io.hiformer.ranker.BearerAuth;
import io.hiformer.ranker.Ranker;
import io.hiformer.ranker.ScoringBackend;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code hiformer serve}: the gRPC Rank API for one model version from a registry. */
@Command(name = "serve",
    description = {"Verifies a model version from the registry and serves it with the gRPC Rank API"
        + " (hiformer.v1.Ranker), plus the standard health service and server reflection, until interrupted"
        + " (Ctrl-C drains calls in flight, then exits).",
        "With --experiments FILE, serves the file's arms (each a version or alias of --model, a traffic share"
            + " and a score formula; see ranker/README.md) instead of --version, and re-reads the file every"
            + " --experiments-poll seconds: a changed valid file switches the arms, an invalid one is logged and"
            + " refused.",
        "Every --registry-poll seconds the registry is checked for a new target of --version (or of the arms'"
            + " refs): a new version is loaded and verified off the request path, then swapped in; calls in flight"
            + " finish on their model. A version that fails is refused with a log line and never retried.",
        "With --bootstrap-servers, every answered call is written to the rank-log topic (the exact model inputs"
            + " of each candidate, scores, positions, version, arm; asynchronously: a slow or absent broker never"
            + " delays a call, and what cannot be written is dropped and counted), and announcements on the models"
            + " topic go through the same load-check-swap path as polling. The user and item features requests do"
            + " not carry come from an online store kept up to date from the feature topics (request-time values"
            + " win); health says NOT_SERVING until the store has read the topics to their end at start.",
        "--tls-cert/--tls-key serve TLS; --tls-client-ca also requires client certificates signed by that CA."
            + " --auth-tokens FILE or --auth-tokens-env VAR require 'authorization: Bearer <token>' on Rank and"
            + " reflection calls (health stays open).",
        "Requests pass user_id and each item_id as the raw columns 'user_id' and 'item_id'.",
        "With no version of --version in the registry yet (a fresh deployment), waits for one: health says"
            + " NOT_SERVING, Rank answers UNAVAILABLE, GET /ready 503, and the first version polled or announced is"
            + " loaded and served. GET /metrics, /live and /ready answer on --metrics-port.",
        "Exits 2 if the file fails verification, an option is invalid, or, with --registry-poll 0 and no"
            + " --bootstrap-servers, the model, version or alias does not exist."})
final class ServeCommand extends RegistryCommand {

  @Option(names = "--model", required = true, paramLabel = "NAME", description = "model name")
  String model;

  @Option(names = "--version", defaultValue = ModelRegistry.LATEST, paramLabel = "V|ALIAS",
      description = "version number, alias or 'latest' (default: ${DEFAULT-VALUE})")
  String version;

  @Option(names = "--port", defaultValue = "50051", paramLabel = "PORT",
      description = "TCP port on all interfaces; 0 picks a free one (default: ${DEFAULT-VALUE})")
  int port;

  @CommandLine.Mixin
  MetricsOptions metricsOptions = new MetricsOptions();

  @Option(names = "--threads", paramLabel = "N",
      description = "CPU cores that score, per model: at most N threads score at once, the gRPC threads that"
          + " score their own calls' tiles included (default: the cores the JVM sees)")
  Integer threads;

  @Option(names = "--max-candidates", defaultValue = "1000", paramLabel = "N",
      description = "most candidates per request (default: ${DEFAULT-VALUE})")
  int maxCandidates;

  @Option(names = "--item-cache-rows", defaultValue = "100000", paramLabel = "N",
      description = "item rows each served model version keeps transformed, about; an item update or a request"
          + " carrying its own item features is never answered from it; 0: no cache; off with --feature-store rocksdb"
          + " (default: ${DEFAULT-VALUE})")
  int itemCacheRows;

  @Option(names = "--max-concurrent-calls", defaultValue = "" + Ranker.DEFAULT_MAX_CONCURRENT_CALLS,
      paramLabel = "N", description = "most Rank calls in flight; more fail at once with RESOURCE_EXHAUSTED"
          + " (default: ${DEFAULT-VALUE})")
  int maxConcurrentCalls;

  @Option(names = "--request-timeout", paramLabel = "SECONDS",
      defaultValue = "10", description = "a call whose request message has not arrived this long after its"
          + " headers is closed with DEADLINE_EXCEEDED (default: ${DEFAULT-VALUE})")
  int requestTimeout;

  @Option(names = "--max-calls-per-connection", paramLabel = "N",
      defaultValue = "" + Ranker.DEFAULT_MAX_CALLS_PER_CONNECTION,
      description = "most concurrent calls (HTTP/2 streams) on one client connection (default: ${DEFAULT-VALUE})")
  int maxCallsPerConnection;

  @Option(names = "--max-message-bytes", defaultValue = "16777216", paramLabel = "BYTES",
      description = "largest request message; larger ones fail with RESOURCE_EXHAUSTED (default: ${DEFAULT-VALUE},"
          + " 16 MiB, sized for 1,000 candidates with request-time features)")
  int maxMessageBytes;

  @Option(names = "--backend", defaultValue = "auto", paramLabel = "auto|cpu|cuda", converter = BackendName.class,
      description = "where models are scored: auto takes a usable GPU (one log line says why not) and falls back to"
          + " the CPU; cuda fails without one (default: ${DEFAULT-VALUE})")
  Backend backend;

  @Option(names = "--precision", defaultValue = "fp32", paramLabel = "fp32|tf32", converter = PrecisionName.class,
      description = "GPU arithmetic: fp32 (3xTF32, logits within 1e-4 of the CPU) or tf32 (faster, about 1e-2)"
          + " (default: ${DEFAULT-VALUE})")
  Precision precision;

  @Option(names = "--max-batch", defaultValue = "16384", paramLabel = "N",
      description = "GPU: most candidates merged from concurrent calls into one batch (default: ${DEFAULT-VALUE})")
  int maxBatch;

  @Option(names = "--max-queue-delay-us", defaultValue = "0", paramLabel = "MICROS",
      description = "GPU: longest a call waits for others to share its batch; with 0, a batch takes the calls"
          + " waiting when the GPU is free, and those arriving while it runs make up the next (default: ${DEFAULT-VALUE})")
  long maxQueueDelayMicros;

  @Option(names = "--experiments", paramLabel = "FILE",
      description = "experiment arms YAML (salt, arms: name, model, share, score); replaces --version")
  Path experiments;

  @Option(names = "--experiments-poll", defaultValue = "10", paramLabel = "SECONDS",
      description = "how often the experiments file is checked for changes (default: ${DEFAULT-VALUE})")
  int experimentsPoll;

  @Option(names = "--registry-poll", defaultValue = "10", paramLabel = "SECONDS",
      description = "how often the registry is checked for new versions of what is served; 0: never"
          + " (default: ${DEFAULT-VALUE})")
  int registryPoll;

  @Option(names = "--tls-cert", paramLabel = "PEM", description = "server certificate chain (PEM); needs --tls-key")
  Path tlsCert;

  @Option(names = "--tls-key", paramLabel = "PEM", description = "server private key (PKCS#8 PEM)")
  Path tlsKey;

  @Option(names = "--tls-client-ca", paramLabel = "PEM",
      description = "mutual TLS: require client certificates signed by these CA certificates (PEM)")
  Path tlsClientCa;

  @Option(names = "--auth-tokens", paramLabel = "FILE",
      description = "require a bearer token from this file (one a line, '#' comments)")
  Path authTokens;

  @Option(names = "--auth-tokens-env", paramLabel = "VAR",
      description = "require a bearer token from this environment variable (comma-separated)")
  String authTokensEnv;

  @Mixin
  KafkaOptions kafka = new KafkaOptions();

  @Option(names = "--rank-log-buffer", defaultValue = "67108864", paramLabel = "BYTES",
      description = "rank-log entries waiting for Kafka, at most; more are dropped and counted in"
          + " hiformer_rank_log_entries_total{result=\"dropped\"} (default: ${DEFAULT-VALUE}, 64 MiB)")
  long rankLogBuffer;

  @Option(names = "--rank-log-delivery-timeout", defaultValue = "2m", converter = DurationConverter.class,
      paramLabel = "DURATION", description = "how long Kafka's producer retries a rank-log entry it took, through a"
          + " broker outage, before it counts as failed; while it takes no more, entries wait in --rank-log-buffer"
          + " (default: ${DEFAULT-VALUE}, at least 31s)")
  Duration rankLogDeliveryTimeout;

  @Option(names = "--feature-schema", paramLabel = "FILE",
      description = "feature schema (YAML) whose user and item fields the online store holds; updates of other"
          + " fields are dead-lettered (default: the fields of the models served at start)")
  Path featureSchema;

  @Option(names = "--max-stored-entities", defaultValue = "" + FeatureStore.DEFAULT_MAX_ENTITIES, paramLabel = "N",
      description = "users, and as many items, the online store holds at most; beyond, the least recently written"
          + " are evicted (default: ${DEFAULT-VALUE}; the memory store only)")
  int maxStoredEntities;

  @Option(names = "--feature-store", defaultValue = "memory", paramLabel = "memory|rocksdb",
      converter = StoreKindName.class,
      description = "where the online store keeps features: 'memory' (in the heap, at most --max-stored-entities"
          + " per kind) or 'rocksdb' (every entity on local disk in --feature-store-dir; a restart resumes from"
          + " the feature topics' positions stored with the data) (default: ${DEFAULT-VALUE})")
  StoreChoice.Kind featureStore;

  @Option(names = "--feature-store-dir", paramLabel = "DIR",
      description = "the directory of the rocksdb feature store (created if missing; one ranker per directory)")
  Path featureStoreDir;

  @Option(names = "--feature-store-cache-mb", defaultValue = "256", paramLabel = "MB",
      description = "the rocksdb feature store's block cache, outside the heap (default: ${DEFAULT-VALUE})")
  long featureStoreCacheMb;

  /** {@code memory} or {@code rocksdb}, in any case. */
  static final class StoreKindName implements CommandLine.ITypeConverter<StoreChoice.Kind> {
    @Override
    public StoreChoice.Kind convert(String value) {
      return StoreChoice.Kind.parse(value);
    }
  }

  /** {@code auto}, {@code cpu} or {@code cuda}, in any case. */
  static final class BackendName implements CommandLine.ITypeConverter<Backend> {
    @Override
    public Backend convert(String value) {
      return Backend.valueOf(value.toUpperCase(java.util.Locale.ROOT));
    }
  }

  /** {@code fp32} or {@code tf32}, in any case. */
  static final class PrecisionName implements CommandLine.ITypeConverter<Precision> {
    @Override
    public Precision convert(String value) {
      return Precision.valueOf(value.toUpperCase(java.util.Locale.ROOT));
    }
  }

  /** Called with the started ranker; tests use it to reach and stop it. */
  Consumer<Ranker> onStart = s -> {};

  /** The metrics server's bound port once started; tests read it from {@link #onStart}. */
  volatile int boundMetricsPort = -1;

  /** Checks the options (errors name them), builds the ranker's options and runs a {@link Ranker} until stopped. */
  @Override
  int run(ModelRegistry r, PrintStream out) throws IOException {
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("--port must be 0 to 65535, got " + port);
    }
    InetSocketAddress metricsAddress = metricsOptions.address();
    int n = threads == null ? Runtime.getRuntime().availableProcessors() : threads;
    if (n < 1) {
      throw new IllegalArgumentException("--threads must be positive, got " + n);
    }
    positive("--max-concurrent-calls", maxConcurrentCalls);
    if (itemCacheRows < 0 || itemCacheRows == 1) {
      throw new IllegalArgumentException("--item-cache-rows must be 0 (no cache) or at least 2, got " + itemCacheRows);
    }
    positive("--request-timeout", requestTimeout);
    positive("--max-calls-per-connection", maxCallsPerConnection);
    positive("--max-message-bytes", maxMessageBytes);
    positive("--max-batch", maxBatch);
    if (maxQueueDelayMicros < 0) {
      throw new IllegalArgumentException("--max-queue-delay-us must not be negative, got " + maxQueueDelayMicros);
    }
    ScoringBackend scoring = new ScoringBackend(backend, precision, maxBatch,
        Duration.ofNanos(maxQueueDelayMicros * 1000));
    positive("--rank-log-buffer", rankLogBuffer);
    RankLogWriter.Options rankLog = RankLogWriter.Options.DEFAULTS.withCapacityBytes(rankLogBuffer)
        .withDeliveryTimeout(rankLogDeliveryTimeout);
    if (registryPoll < 0) {
      throw new IllegalArgumentException("--registry-poll must be 0 or more, got " + registryPoll);
    }
    Path tls = tls();
    List<String> tokens = tokens();
    boolean withKafka = kafka.given();
    if (experiments != null) {
      positive("--experiments-poll", experimentsPoll);
      requireModel(r, model);
    } else if (registryPoll == 0 && !withKafka) {
      // Nothing would ever bring a version. Ranker.start refuses this too; checked here first so that the
      // message names the versions and aliases there are.
      resolve(r, model, version);
    }
    if (withKafka) {
      positive("--max-stored-entities", maxStoredEntities);
      positive("--feature-store-cache-mb", featureStoreCacheMb);
    }
    Ranker.Options options = Ranker.Options.of(r, model)
        .withVersion(version)
        .withExperiments(experiments, Duration.ofSeconds(experimentsPoll))
        .withRegistryPoll(Duration.ofSeconds(registryPoll))
        .withScoring(n, scoring)
        .withMaxCandidates(maxCandidates)
        .withItemCacheRows(itemCacheRows)
        .withAddress(new InetSocketAddress(port))
        .withLimits(maxMessageBytes, maxConcurrentCalls, Duration.ofSeconds(requestTimeout), maxCallsPerConnection)
        .withTls(tls, tlsKey, tlsClientCa)
        .withTokens(tokens)
        .withMetricsAddress(metricsAddress)
        .withKafka(kafka.bootstrapServers, new TopicNames(kafka.topicPrefix), rankLog)
        .withFeatureStore(featureSchema,
            new StoreChoice(featureStore, featureStoreDir, featureStoreCacheMb << 20, maxStoredEntities));
    try (Ranker ranker = Ranker.start(options, out);
        ProcessMetrics process = new ProcessMetrics(ranker.meterRegistry())) {
      boundMetricsPort = ranker.metricsPort();
      Thread hook = new Thread(ranker::close, "hiformer-serve-shutdown");
      Runtime.getRuntime().addShutdownHook(hook);
      try {
        onStart.accept(ranker);
        ranker.awaitTermination();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } finally {
        ranker.close();
        try {
          Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException alreadyShuttingDown) {
          // The hook is running or has run.
        }
      }
    }
    out.println("stopped");
    return 0;
  }

  private static void positive(String option, long value) {
    if (value < 1) {
      throw new IllegalArgumentException(option + " must be positive, got " + value);
    }
  }

  /** --tls-cert, checked with --tls-key and --tls-client-ca (null: plaintext). */
  private Path tls() throws IOException {
    if ((tlsCert == null) != (tlsKey == null)) {
      throw new IllegalArgumentException("--tls-cert and --tls-key go together");
    }
    if (tlsCert == null) {
      if (tlsClientCa != null) {
        throw new IllegalArgumentException("--tls-client-ca needs --tls-cert and --tls-key");
      }
      return null;
    }
    UserErrors.readableFile("--tls-cert", tlsCert);
    UserErrors.pkcs8Key("--tls-key", tlsKey);
    if (tlsClientCa != null) {
      UserErrors.readableFile("--tls-client-ca", tlsClientCa);
    }
    return tlsCert;
  }

  private List<String> tokens() throws IOException {
    List<String> out = new ArrayList<>();
    if (authTokens != null) {
      out.addAll(BearerAuth.readTokens(authTokens));
      if (out.isEmpty()) {
        throw new IllegalArgumentException("--auth-tokens " + authTokens + " holds no token");
      }
    }
    if (authTokensEnv != null) {
      String value = System.getenv(authTokensEnv);
      List<String> env = value == null ? List.of() : BearerAuth.parseTokens(value);
      if (env.isEmpty()) {
        throw new IllegalArgumentException("--auth-tokens-env: environment variable " + authTokensEnv
            + " is unset or holds no token");
      }
      out.addAll(env);
    }
    return out;
  }
}
