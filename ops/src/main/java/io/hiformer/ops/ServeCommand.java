package io.hiformer.ops;

import io.hiformer.kernels.cuda.Precision;
import io.hiformer.model.Backend;
import io.hiformer.model.ModelRegistry;
import io.hiformer.model.ModelRegistry.Version;
import io.hiformer.ranker.ExperimentsWatcher;
import io.hiformer.ranker.LoadedModel;
import io.hiformer.ranker.MetricsServer;
import io.hiformer.ranker.RankService;
import io.hiformer.ranker.RankerServer;
import io.hiformer.ranker.Scoring;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
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
        "Requests pass user_id and each item_id as the raw columns 'user_id' and 'item_id'.",
        "Exits 2 if the model, version or alias does not exist or the file fails verification."})
final class ServeCommand extends RegistryCommand {

  @Option(names = "--model", required = true, paramLabel = "NAME", description = "model name")
  String model;

  @Option(names = "--version", defaultValue = ModelRegistry.LATEST, paramLabel = "V|ALIAS",
      description = "version number, alias or 'latest' (default: ${DEFAULT-VALUE})")
  String version;

  @Option(names = "--port", defaultValue = "50051", paramLabel = "PORT",
      description = "TCP port on all interfaces; 0 picks a free one (default: ${DEFAULT-VALUE})")
  int port;

  @Option(names = "--metrics-port", defaultValue = "" + MetricsServer.DEFAULT_PORT, paramLabel = "PORT",
      description = "TCP port on all interfaces for Prometheus metrics at GET /metrics; 0 picks a free one"
          + " (default: ${DEFAULT-VALUE})")
  int metricsPort;

  @Option(names = "--threads", paramLabel = "N",
      description = "scoring threads per model (default: the number of CPU cores)")
  Integer threads;

  @Option(names = "--max-candidates", defaultValue = "1000", paramLabel = "N",
      description = "most candidates per request (default: ${DEFAULT-VALUE})")
  int maxCandidates;

  @Option(names = "--max-concurrent-calls", defaultValue = "" + RankerServer.DEFAULT_MAX_CONCURRENT_CALLS,
      paramLabel = "N", description = "most Rank calls in flight; more fail at once with RESOURCE_EXHAUSTED"
          + " (default: ${DEFAULT-VALUE})")
  int maxConcurrentCalls;

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

  @Option(names = "--max-queue-delay-us", defaultValue = "500", paramLabel = "MICROS",
      description = "GPU: longest a call waits for others to share its batch (default: ${DEFAULT-VALUE})")
  long maxQueueDelayMicros;

  @Option(names = "--experiments", paramLabel = "FILE",
      description = "experiment arms YAML (salt, arms: name, model, share, score); replaces --version")
  Path experiments;

  @Option(names = "--experiments-poll", defaultValue = "10", paramLabel = "SECONDS",
      description = "how often the experiments file is checked for changes (default: ${DEFAULT-VALUE})")
  int experimentsPoll;

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

  /** Called with the started server; tests use it to reach and stop the server. */
  Consumer<RankerServer> onStart = s -> {};

  /** The metrics server's bound port once started; tests read it from {@link #onStart}. */
  volatile int boundMetricsPort = -1;

  @Override
  int run(ModelRegistry r, PrintStream out) throws IOException {
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("--port must be 0 to 65535, got " + port);
    }
    if (metricsPort < 0 || metricsPort > 65535) {
      throw new IllegalArgumentException("--metrics-port must be 0 to 65535, got " + metricsPort);
    }
    int n = threads == null ? Runtime.getRuntime().availableProcessors() : threads;
    if (n < 1) {
      throw new IllegalArgumentException("--threads must be positive, got " + n);
    }
    if (maxConcurrentCalls < 1) {
      throw new IllegalArgumentException("--max-concurrent-calls must be positive, got " + maxConcurrentCalls);
    }
    if (maxMessageBytes < 1) {
      throw new IllegalArgumentException("--max-message-bytes must be positive, got " + maxMessageBytes);
    }
    if (maxBatch < 1) {
      throw new IllegalArgumentException("--max-batch must be positive, got " + maxBatch);
    }
    if (maxQueueDelayMicros < 0) {
      throw new IllegalArgumentException("--max-queue-delay-us must not be negative, got " + maxQueueDelayMicros);
    }
    Scoring.use(new Scoring(backend, precision, maxBatch, Duration.ofNanos(maxQueueDelayMicros * 1000)));
    RankService.Options options = RankService.Options.DEFAULTS.withMaxCandidates(maxCandidates);
    if (experiments != null) {
      if (experimentsPoll < 1) {
        throw new IllegalArgumentException("--experiments-poll must be positive, got " + experimentsPoll);
      }
      requireModel(r, model);
      ScheduledExecutorService poller = Executors.newSingleThreadScheduledExecutor(task -> {
        Thread t = new Thread(task, "hiformer-experiments-poll");
        t.setDaemon(true);
        return t;
      });
      try (ExperimentsWatcher watcher = new ExperimentsWatcher(experiments, r, model, n, options)) {
        poller.scheduleWithFixedDelay(() -> {
          try {
            watcher.reloadIfChanged();
          } catch (RuntimeException e) {
            System.getLogger(ServeCommand.class.getName()).log(System.Logger.Level.WARNING,
                "experiments reload failed: " + e);
          }
        }, experimentsPoll, experimentsPoll, TimeUnit.SECONDS);
        return serve(watcher.service(), String.format("%s arms %s from %s", model,
            watcher.service().arms().arms().stream().map(a -> a.name() + "=v" + a.model().version()).toList(),
            experiments), n, out);
      } finally {
        poller.shutdownNow();
        try {
          poller.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
    }
    Version v = resolve(r, model, version);
    try (LoadedModel loaded = LoadedModel.load(r, v, n)) {
      out.printf("scoring on %s%n", loaded.scorer().description());
      return serve(new RankService(loaded, options), v.model() + " v" + v.number(), n, out);
    }
  }

  private int serve(RankService service, String what, int n, PrintStream out) throws IOException {
    MetricsServer metrics = MetricsServer.start(new InetSocketAddress(metricsPort), service.metrics());
    RankerServer server;
    try {
      server = RankerServer.start(new InetSocketAddress(port), service, maxMessageBytes,
          RankerServer.DEFAULT_GRACE, maxConcurrentCalls);
    } catch (IOException | RuntimeException e) {
      metrics.close();
      throw e;
    }
    boundMetricsPort = metrics.port();
    Thread hook = new Thread(server::close, "hiformer-serve-shutdown");
    Runtime.getRuntime().addShutdownHook(hook);
    out.printf("serving %s (%d scoring threads) on port %d%n", what, n, server.port());
    out.printf("metrics on port %d (GET /metrics)%n", metrics.port());
    out.flush();
    try {
      onStart.accept(server);
      server.awaitTermination();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      server.close();
      metrics.close();
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException alreadyShuttingDown) {
        // The hook is running or has run.
      }
    }
    out.println("stopped");
    return 0;
  }
}
