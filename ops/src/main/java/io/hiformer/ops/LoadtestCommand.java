package io.hiformer.ops;

import io.grpc.ChannelCredentials;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.TlsChannelCredentials;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.ModelRegistry;
import io.hiformer.ops.loadtest.InProcessLoad;
import io.hiformer.ops.loadtest.LoadSpec;
import io.hiformer.ops.loadtest.RankLoad;
import io.hiformer.ops.loadtest.Report;
import io.hiformer.ranker.BearerAuth;
import io.hiformer.ranker.LoadedModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code hiformer loadtest}: a closed-loop ({@code --concurrency}) or open-loop ({@code --rps}) load
 * generator for the Rank API, or ({@code --in-process}) the same batches scored directly by a
 * registry model without gRPC, as a baseline. Options and their checks live here; the generator is
 * {@link io.hiformer.ops.loadtest}.
 */
@Command(name = "loadtest",
    description = {"Sends synthetic Rank requests (a user id, context features, K candidates with distinct item ids"
        + " drawn from a seeded generator) to --target for --warmup + --duration seconds, then prints the achieved"
        + " rate (requests/s, candidates/s), latency percentiles (HdrHistogram, microsecond precision) and counts by"
        + " status; warmup calls are not counted.",
        "--concurrency C: C virtual users over one channel, each sending its next request when the previous answers"
            + " (closed loop). --rps N: requests at fixed intervals whatever the responses (open loop); latency runs"
            + " from the intended send time (no coordinated omission) and requests beyond --max-in-flight are dropped"
            + " and counted.",
        "Without --schema-from-registry requests carry only user_id, item_id and the --context pairs; with it, every"
            + " field of the model gets a synthetic value of its kind (keyed by the field name).",
        "--in-process: featurizes and scores the same batches from --threads threads on a registry model scoring on"
            + " --scorer-threads cores (no gRPC), the baseline for the served figures.",
        "Exits 2 on invalid options or a missing model."})
final class LoadtestCommand implements Callable<Integer> {

  @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
  boolean help;

  @Option(names = "--target", paramLabel = "HOST:PORT", description = "the Rank server (not with --in-process)")
  String target;

  @ArgGroup(exclusive = true)
  Load load;

  static final class Load {
    @Option(names = "--rps", paramLabel = "N", description = "open loop: requests per second")
    Double rps;

    @Option(names = "--concurrency", paramLabel = "C", description = "closed loop: virtual users")
    Integer concurrency;
  }

  @Option(names = "--candidates", defaultValue = "100", paramLabel = "K",
      description = "candidates per request (default: ${DEFAULT-VALUE})")
  int candidates;

  @Option(names = "--duration", defaultValue = "10", paramLabel = "S",
      description = "measured seconds (default: ${DEFAULT-VALUE})")
  double duration;

  @Option(names = "--warmup", defaultValue = "0", paramLabel = "S",
      description = "seconds of load before measuring (default: ${DEFAULT-VALUE})")
  double warmup;

  @Option(names = "--deadline-ms", paramLabel = "MS", description = "per-request deadline (default: none)")
  Long deadlineMs;

  @Option(names = "--max-in-flight", defaultValue = "1000", paramLabel = "N",
      description = "open loop: most requests awaiting an answer; more are dropped (default: ${DEFAULT-VALUE})")
  int maxInFlight;

  @Option(names = "--context", paramLabel = "KEY=VALUE", description = "a categorical context feature sent with"
      + " every request (repeatable)")
  Map<String, String> context = new LinkedHashMap<>();

  @Option(names = "--seed", defaultValue = "1", paramLabel = "N",
      description = "seed of the request generator (default: ${DEFAULT-VALUE})")
  long seed;

  @Option(names = "--json", paramLabel = "FILE", description = "also write the figures as JSON")
  Path json;

  @Option(names = "--in-process", description = "score batches directly with --registry/--model, no gRPC")
  boolean inProcess;

  @Option(names = {"--registry", "--schema-from-registry"}, paramLabel = "DIR",
      description = "registry root: the model for --in-process, or the field names for --target")
  Path registry;

  @Option(names = "--model", paramLabel = "NAME", description = "model name in --registry")
  String model;

  @Option(names = "--version", defaultValue = ModelRegistry.LATEST, paramLabel = "V|ALIAS",
      description = "version number, alias or 'latest' (default: ${DEFAULT-VALUE})")
  String version;

  @Option(names = "--threads", defaultValue = "1", paramLabel = "T",
      description = "--in-process: caller threads (default: ${DEFAULT-VALUE})")
  int threads;

  @Option(names = "--scorer-threads", paramLabel = "N",
      description = "--in-process: the model's scoring cores, as serve --threads: at most N threads score at once,"
          + " the callers included (default: the cores the JVM sees, as serve)")
  Integer scorerThreads;

  @Option(names = "--model-only",
      description = "--in-process: featurize the --distinct requests once up front and time only the model's scoring")
  boolean modelOnly;

  @Option(names = "--stored-items",
      description = "with --in-process: item features come from an online store filled up front with the requests'"
          + " item values, and the requests carry only item ids (as with the ranker's online store)")
  boolean storedItems;

  @Option(names = "--item-cache-rows", defaultValue = "100000", paramLabel = "N",
      description = "with --in-process: item rows the model keeps transformed (0: none; default: ${DEFAULT-VALUE})")
  int itemCacheRows;

  @Option(names = "--distinct", defaultValue = "64", paramLabel = "N",
      description = "distinct requests each generator builds up front and then cycles through, so building them"
          + " costs the measured machine nothing (default: ${DEFAULT-VALUE})")
  int distinct;

  @Option(names = "--tls-ca", paramLabel = "PEM",
      description = "use TLS, trusting these CA certificates (PEM) for the server's certificate")
  Path tlsCa;

  @Option(names = "--tls-cert", paramLabel = "PEM", description = "mutual TLS: client certificate chain (PEM)")
  Path tlsCert;

  @Option(names = "--tls-key", paramLabel = "PEM", description = "mutual TLS: client private key (PKCS#8 PEM)")
  Path tlsKey;

  @Option(names = "--auth-token-file", paramLabel = "FILE",
      description = "send 'authorization: Bearer <token>' with the first token in FILE")
  Path authTokenFile;

  @Option(names = "--auth-token-env", paramLabel = "VAR",
      description = "send 'authorization: Bearer <token>' with the token in environment variable VAR")
  String authTokenEnv;

  @Override
  public Integer call() {
    try {
      validate();
      Report report = inProcess ? runInProcess() : runTarget();
      report.print(System.out);
      if (json != null) {
        Files.writeString(json, report.json());
      }
      if (report.succeeded() == 0) {
        System.err.println("error: no call succeeded" + report.failures());
        return 1;
      }
      return 0;
    } catch (IllegalArgumentException | NoSuchElementException | IllegalStateException | IOException e) {
      System.err.println("error: " + UserErrors.message(e));
      return 2;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      System.err.println("error: interrupted");
      return 1;
    }
  }

  private void validate() {
    if (candidates < 1) {
      throw new IllegalArgumentException("--candidates must be positive, got " + candidates);
    }
    if (!(duration > 0) || !(warmup >= 0)) {
      throw new IllegalArgumentException("--duration must be positive and --warmup not negative");
    }
    if (deadlineMs != null && deadlineMs < 1) {
      throw new IllegalArgumentException("--deadline-ms must be positive, got " + deadlineMs);
    }
    if (distinct < 1) {
      throw new IllegalArgumentException("--distinct must be positive, got " + distinct);
    }
    if (registry != null && model == null) {
      throw new IllegalArgumentException("--registry needs --model");
    }
    if (inProcess) {
      if (target != null || registry == null) {
        throw new IllegalArgumentException("--in-process takes --registry and --model, not --target");
      }
      if (threads < 1 || (scorerThreads != null && scorerThreads < 1)) {
        throw new IllegalArgumentException("--threads and --scorer-threads must be positive");
      }
      if (itemCacheRows < 0 || itemCacheRows == 1) {
        throw new IllegalArgumentException("--item-cache-rows must be 0 (no cache) or at least 2, got " + itemCacheRows);
      }
      return;
    }
    if (target == null) {
      throw new IllegalArgumentException("give --target HOST:PORT (or --in-process)");
    }
    if (storedItems) {
      throw new IllegalArgumentException("--stored-items needs --in-process (a server reads its own store)");
    }
    if (load == null) {
      throw new IllegalArgumentException("give --rps N or --concurrency C");
    }
    if (load.rps != null && !(load.rps > 0)) {
      throw new IllegalArgumentException("--rps must be positive, got " + load.rps);
    }
    if (load.concurrency != null && load.concurrency < 1) {
      throw new IllegalArgumentException("--concurrency must be positive, got " + load.concurrency);
    }
    if (maxInFlight < 1) {
      throw new IllegalArgumentException("--max-in-flight must be positive, got " + maxInFlight);
    }
  }

  private LoadSpec spec() {
    return new LoadSpec(candidates, context, seed, distinct, warmup, duration, deadlineMs);
  }

  private Report runInProcess() throws IOException, InterruptedException {
    int scoring = scorerThreads == null ? Runtime.getRuntime().availableProcessors() : scorerThreads;
    ModelRegistry r = ModelRegistry.open(registry);
    try (LoadedModel m = LoadedModel.load(r, RegistryCommand.resolve(r, model, version), scoring)) {
      return InProcessLoad.run(m, spec(), threads, modelOnly, scoring, storedItems, itemCacheRows);
    }
  }

  private Report runTarget() throws IOException, InterruptedException {
    int colon = target.lastIndexOf(':');
    if (colon < 1) {
      throw new IllegalArgumentException("--target must be HOST:PORT, got " + target);
    }
    String host = target.substring(0, colon);
    int port;
    try {
      port = Integer.parseInt(target.substring(colon + 1));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("--target must be HOST:PORT, got " + target);
    }
    List<ModelConfig.Field> fields = List.of();
    if (registry != null) {
      ModelRegistry r = ModelRegistry.open(registry);
      fields = r.verify(RegistryCommand.resolve(r, model, version)).parameters().config().fields();
    }
    ManagedChannel channel = RankLoad.channel(host, port, credentials(), token());
    try {
      RankLoad rank = new RankLoad(channel, target, fields, spec());
      return load.concurrency != null ? rank.closedLoop(load.concurrency) : rank.openLoop(load.rps, maxInFlight);
    } finally {
      channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
    }
  }

  private ChannelCredentials credentials() throws IOException {
    if (tlsCa == null) {
      if (tlsCert != null || tlsKey != null) {
        throw new IllegalArgumentException("--tls-cert and --tls-key need --tls-ca");
      }
      return InsecureChannelCredentials.create();
    }
    TlsChannelCredentials.Builder b = TlsChannelCredentials.newBuilder()
        .trustManager(UserErrors.readableFile("--tls-ca", tlsCa).toFile());
    if ((tlsCert == null) != (tlsKey == null)) {
      throw new IllegalArgumentException("--tls-cert and --tls-key go together");
    }
    if (tlsCert != null) {
      UserErrors.readableFile("--tls-cert", tlsCert);
      UserErrors.pkcs8Key("--tls-key", tlsKey);
      b.keyManager(tlsCert.toFile(), tlsKey.toFile());
    }
    return b.build();
  }

  /** The bearer token to send, or null. */
  private String token() throws IOException {
    if (authTokenFile != null && authTokenEnv != null) {
      throw new IllegalArgumentException("give --auth-token-file or --auth-token-env, not both");
    }
    if (authTokenFile != null) {
      List<String> tokens = BearerAuth.readTokens(authTokenFile);
      if (tokens.isEmpty()) {
        throw new IllegalArgumentException("--auth-token-file " + authTokenFile + " holds no token");
      }
      return tokens.getFirst();
    }
    if (authTokenEnv != null) {
      String value = System.getenv(authTokenEnv);
      if (value == null || value.isBlank()) {
        throw new IllegalArgumentException("--auth-token-env: environment variable " + authTokenEnv + " is unset or empty");
      }
      return value.strip();
    }
    return null;
  }
}
