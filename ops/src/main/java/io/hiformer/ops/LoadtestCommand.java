package io.hiformer.ops;

import io.grpc.CallOptions;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.TlsChannelCredentials;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import io.hiformer.model.Batch;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.ModelRegistry;
import io.hiformer.proto.Candidate;
import io.hiformer.proto.FeatureValue;
import io.hiformer.proto.RankRequest;
import io.hiformer.proto.RankerGrpc;
import io.hiformer.proto.StringList;
import io.hiformer.ranker.LoadedModel;
import io.hiformer.ranker.RequestRows;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import org.HdrHistogram.ConcurrentHistogram;
import org.HdrHistogram.Histogram;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code hiformer loadtest}: a closed-loop ({@code --concurrency}) or open-loop ({@code --rps}) load
 * generator for the Rank API, or ({@code --in-process}) the same batches scored directly by a
 * registry model without gRPC, as a baseline.
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
      if (report.s().ok.sum() == 0) {
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
      return;
    }
    if (target == null) {
      throw new IllegalArgumentException("give --target HOST:PORT (or --in-process)");
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

  private LoadedModel loadModel(int scorerThreads) throws IOException {
    ModelRegistry r = ModelRegistry.open(registry);
    return LoadedModel.load(r, RegistryCommand.resolve(r, model, version), scorerThreads);
  }

  // ---------------------------------------------------------------- requests

  /** Synthetic requests; one per thread (not thread-safe). */
  static final class Requests {
    private final SplittableRandom random;
    private final List<ModelConfig.Field> fields;
    private final Map<String, String> context;
    private final int k;

    Requests(long seed, List<ModelConfig.Field> fields, Map<String, String> context, int k) {
      this.random = new SplittableRandom(seed);
      this.fields = fields;
      this.context = context;
      this.k = k;
    }

    /** {@code n} requests built now and handed out in turn. */
    static java.util.function.Supplier<RankRequest> cycle(Requests source, int n) {
      RankRequest[] pool = new RankRequest[n];
      for (int i = 0; i < n; i++) {
        pool[i] = source.next();
      }
      int[] next = {0};
      return () -> {
        int i = next[0];
        next[0] = (i + 1) % n;
        return pool[i];
      };
    }

    RankRequest next() {
      RankRequest.Builder b = RankRequest.newBuilder().setUserId("u" + random.nextInt(10_000));
      context.forEach((key, v) -> b.putContext(key, FeatureValue.newBuilder().setCategorical(v).build()));
      for (ModelConfig.Field f : fields) {
        if (f.side() != ModelConfig.Side.ITEM && !isId(f) && !context.containsKey(f.name())) {
          b.putContext(f.name(), value(f));
        }
      }
      Set<String> ids = new HashSet<>();
      while (ids.size() < k) {
        String id = "i" + random.nextInt(Math.max(1_000_000, 4 * k));
        if (ids.add(id)) {
          Candidate.Builder c = Candidate.newBuilder().setItemId(id);
          for (ModelConfig.Field f : fields) {
            if (f.side() == ModelConfig.Side.ITEM && !isId(f)) {
              c.putFeatures(f.name(), value(f));
            }
          }
          b.addCandidates(c);
        }
      }
      return b.build();
    }

    private static boolean isId(ModelConfig.Field f) {
      return f.name().equals("user_id") || f.name().equals("item_id");
    }

    private FeatureValue value(ModelConfig.Field f) {
      return switch (f.kind()) {
        case CATEGORICAL -> FeatureValue.newBuilder().setCategorical("v" + random.nextInt(100)).build();
        case BAG -> FeatureValue.newBuilder().setBag(StringList.newBuilder().addValues("v" + random.nextInt(100))
            .addValues("v" + random.nextInt(100)).addValues("v" + random.nextInt(100))).build();
        case DENSE -> FeatureValue.newBuilder().setDense(random.nextGaussian()).build();
      };
    }
  }

  // ---------------------------------------------------------------- figures

  /** Latencies (microseconds) and status counts of the measured window. */
  static final class Stats {
    final Histogram latency = new ConcurrentHistogram(3);
    /** Latency of the calls answered OK, and of those shed (RESOURCE_EXHAUSTED). */
    final Histogram okLatency = new ConcurrentHistogram(3);
    final Histogram shedLatency = new ConcurrentHistogram(3);
    final LongAdder ok = new LongAdder();
    final LongAdder exhausted = new LongAdder();
    final LongAdder deadline = new LongAdder();
    final LongAdder other = new LongAdder();
    final LongAdder dropped = new LongAdder();
    final LongAdder issued = new LongAdder();
    /** Completed calls by status code. */
    final Map<Status.Code, LongAdder> codes = new java.util.concurrent.ConcurrentHashMap<>();

    void record(long micros, Status.Code code) {
      latency.recordValue(Math.max(0, micros));
      codes.computeIfAbsent(code, c -> new LongAdder()).increment();
      switch (code) {
        case OK -> {
          ok.increment();
          okLatency.recordValue(Math.max(0, micros));
        }
        case RESOURCE_EXHAUSTED -> {
          exhausted.increment();
          shedLatency.recordValue(Math.max(0, micros));
        }
        case DEADLINE_EXCEEDED -> deadline.increment();
        default -> other.increment();
      }
    }
  }

  record Report(String mode, String target, int candidates, double seconds, Stats s) {
    long completed() {
      return s.ok.sum() + s.exhausted.sum() + s.deadline.sum() + s.other.sum();
    }

    double requestsPerSecond() {
      return completed() / seconds;
    }

    /** ": N of M calls answered STATUS" naming the most frequent status, or why none was answered. */
    String failures() {
      long completed = completed();
      if (completed == 0) {
        return ": none was answered within the run (" + s.issued.sum() + " issued, " + s.dropped.sum() + " dropped)";
      }
      var dominant = s.codes.entrySet().stream().max(java.util.Comparator.comparingLong(e -> e.getValue().sum()))
          .orElseThrow();
      return ": " + dominant.getValue().sum() + " of " + completed + " calls answered " + dominant.getKey()
          + (dominant.getKey() == Status.Code.UNAVAILABLE ? " (is the server up at " + target + "?)" : "");
    }

    double candidatesPerSecond() {
      return s.ok.sum() * (double) candidates / seconds;
    }

    double ms(double percentile) {
      return ms(s.latency, percentile);
    }

    static double ms(Histogram h, double percentile) {
      return h.getTotalCount() == 0 ? 0 : h.getValueAtPercentile(percentile) / 1000.0;
    }

    static String percentiles(Histogram h) {
      return String.format(Locale.ROOT, "p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f", ms(h, 50), ms(h, 90),
          ms(h, 99), ms(h, 99.9), h.getTotalCount() == 0 ? 0 : h.getMaxValue() / 1000.0);
    }

    static String json(Histogram h) {
      return String.format(Locale.ROOT, "{\"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, \"p99_9\": %.3f, \"max\": %.3f}",
          ms(h, 50), ms(h, 90), ms(h, 99), ms(h, 99.9), h.getTotalCount() == 0 ? 0 : h.getMaxValue() / 1000.0);
    }

    void print(PrintStream out) {
      out.printf(Locale.ROOT, "%s %s: %d candidates per request, %.2f s measured%n", mode, target, candidates, seconds);
      out.printf(Locale.ROOT, "rate       %.1f req/s, %.0f candidates/s (%d issued, %d completed)%n",
          requestsPerSecond(), candidatesPerSecond(), s.issued.sum(), completed());
      out.println("latency ms " + percentiles(s.latency));
      if (s.okLatency.getTotalCount() != s.latency.getTotalCount()) {
        out.println("  OK ms    " + percentiles(s.okLatency));
        out.println("  shed ms  " + percentiles(s.shedLatency));
      }
      out.printf("status     OK %d  RESOURCE_EXHAUSTED %d  DEADLINE_EXCEEDED %d  other %d  dropped %d%n",
          s.ok.sum(), s.exhausted.sum(), s.deadline.sum(), s.other.sum(), s.dropped.sum());
    }

    String json() {
      return String.format(Locale.ROOT, """
          {
            "mode": "%s",
            "target": "%s",
            "candidates": %d,
            "seconds": %.3f,
            "issued": %d,
            "completed": %d,
            "requests_per_s": %.3f,
            "candidates_per_s": %.3f,
            "latency_ms": {"p50": %.3f, "p90": %.3f, "p99": %.3f, "p99_9": %.3f, "max": %.3f},
            "ok_latency_ms": %s,
            "shed_latency_ms": %s,
            "status": {"OK": %d, "RESOURCE_EXHAUSTED": %d, "DEADLINE_EXCEEDED": %d, "other": %d},
            "dropped": %d
          }
          """, mode, target.replace("\\", "\\\\").replace("\"", "\\\""), candidates, seconds, s.issued.sum(),
          completed(), requestsPerSecond(), candidatesPerSecond(), ms(50), ms(90), ms(99), ms(99.9),
          s.latency.getTotalCount() == 0 ? 0 : s.latency.getMaxValue() / 1000.0, json(s.okLatency),
          json(s.shedLatency), s.ok.sum(), s.exhausted.sum(),
          s.deadline.sum(), s.other.sum(), s.dropped.sum());
    }
  }

  // ---------------------------------------------------------------- runs

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
    // Callbacks only count and send the next call, so they run on the transport's thread.
    var builder = Grpc.newChannelBuilderForAddress(host, port, credentials()).maxInboundMessageSize(64 << 20)
        .directExecutor();
    String token = token();
    if (token != null) {
      Metadata headers = new Metadata();
      headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
      builder.intercept(MetadataUtils.newAttachHeadersInterceptor(headers));
    }
    ManagedChannel channel = builder.build();
    try {
      return load.concurrency != null ? closedLoop(channel, fields) : openLoop(channel, fields);
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
      List<String> tokens = io.hiformer.ranker.BearerAuth.readTokens(authTokenFile);
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

  /** Bytes as they are: requests are serialized once when generated, answers are not parsed. */
  private static final MethodDescriptor.Marshaller<byte[]> BYTES = new MethodDescriptor.Marshaller<>() {
    @Override
    public InputStream stream(byte[] value) {
      return new ByteArrayInputStream(value);
    }

    @Override
    public byte[] parse(InputStream stream) {
      try {
        return stream.readAllBytes();
      } catch (IOException e) {
        throw Status.INTERNAL.withDescription("cannot read the answer").withCause(e).asRuntimeException();
      }
    }
  };

  /**
   * Ranker.Rank over pre-serialized requests, so that the generator, which shares the machine with
   * the server, spends little CPU per call: no request building or encoding, no answer decoding.
   */
  private static final MethodDescriptor<byte[], byte[]> RANK_BYTES =
      RankerGrpc.getRankMethod().toBuilder(BYTES, BYTES).build();

  private CallOptions callOptions() {
    return deadlineMs == null ? CallOptions.DEFAULT
        : CallOptions.DEFAULT.withDeadlineAfter(deadlineMs, TimeUnit.MILLISECONDS);
  }

  /** {@link Requests#cycle} serialized. */
  private java.util.function.Supplier<byte[]> serializedPool(long seed, List<ModelConfig.Field> fields) {
    var requests = Requests.cycle(new Requests(seed, fields, context, candidates), distinct);
    byte[][] pool = new byte[distinct][];
    for (int i = 0; i < distinct; i++) {
      pool[i] = requests.get().toByteArray();
    }
    int[] next = {0};
    return () -> {
      int i = next[0];
      next[0] = (i + 1) % distinct;
      return pool[i];
    };
  }

  /**
   * {@code --concurrency} users, each sending its next request from the callback that receives the
   * answer to its last one. The channel runs callbacks on its event loop ({@code directExecutor}),
   * so no generator thread is woken per call: on a shared machine every such hand-off adds to
   * the latency measured.
   */
  private Report closedLoop(ManagedChannel channel, List<ModelConfig.Field> fields) throws InterruptedException {
    Stats stats = new Stats();
    long start = System.nanoTime();
    long measureFrom = start + seconds(warmup);
    long end = measureFrom + seconds(duration);
    java.util.concurrent.CountDownLatch finished = new java.util.concurrent.CountDownLatch(load.concurrency);
    for (int u = 0; u < load.concurrency; u++) {
      new User(channel, serializedPool(seed + u, fields), stats, measureFrom, end, finished).next();
    }
    // Calls still out at the end get their deadline (or a few seconds) to answer; the run never waits longer.
    long grace = deadlineMs == null ? 5_000 : deadlineMs + 1_000;
    finished.await(Math.max(0, end - System.nanoTime()) / 1_000_000 + grace, TimeUnit.MILLISECONDS);
    return new Report("closed loop, concurrency " + load.concurrency, target, candidates,
        (System.nanoTime() - measureFrom) / 1e9, stats);
  }

  /** Sees one call's outcome: its status code, answers are not read. */
  private abstract static class Outcome implements StreamObserver<byte[]> {
    abstract void done(Status.Code code);

    @Override
    public final void onNext(byte[] value) {}

    @Override
    public final void onError(Throwable t) {
      done(Status.fromThrowable(t).getCode());
    }

    @Override
    public final void onCompleted() {
      done(Status.Code.OK);
    }
  }

  /** One closed-loop user: a call, then on its answer the next one, until the end time. */
  private final class User extends Outcome {
    private final ManagedChannel channel;
    private final java.util.function.Supplier<byte[]> requests;
    private final Stats stats;
    private final long measureFrom;
    private final long end;
    private final java.util.concurrent.CountDownLatch finished;
    private long sent;
    /** True while a call is being started: a call that fails at once (no connection) answers within it. */
    private boolean starting;

    User(ManagedChannel channel, java.util.function.Supplier<byte[]> requests, Stats stats, long measureFrom, long end,
        java.util.concurrent.CountDownLatch finished) {
      this.channel = channel;
      this.requests = requests;
      this.stats = stats;
      this.measureFrom = measureFrom;
      this.end = end;
      this.finished = finished;
    }

    void next() {
      byte[] request = requests.get();
      sent = System.nanoTime();
      if (sent >= end) {
        finished.countDown();
        return;
      }
      starting = true;
      try {
        ClientCalls.asyncUnaryCall(channel.newCall(RANK_BYTES, callOptions()), request, this);
      } finally {
        starting = false;
      }
    }

    @Override
    void done(Status.Code code) {
      if (sent >= measureFrom) {
        stats.issued.increment();
        stats.record((System.nanoTime() - sent) / 1000, code);
      }
      if (starting) {
        // Answered inside next(): calling it again here would recurse once per failed call.
        java.util.concurrent.ForkJoinPool.commonPool().execute(this::next);
      } else {
        next();
      }
    }
  }

  private Report openLoop(ManagedChannel channel, List<ModelConfig.Field> fields) throws InterruptedException {
    Stats stats = new Stats();
    var requests = serializedPool(seed, fields);
    Semaphore inFlight = new Semaphore(maxInFlight);
    long interval = Math.max(1, Math.round(1e9 / load.rps));
    long start = System.nanoTime();
    long measureFrom = start + seconds(warmup);
    long end = measureFrom + seconds(duration);
    for (long i = 0; ; i++) {
      long intended = start + i * interval;
      if (intended >= end) {
        break;
      }
      for (long wait = intended - System.nanoTime(); wait > 0; wait = intended - System.nanoTime()) {
        LockSupport.parkNanos(wait);
      }
      byte[] request = requests.get();
      boolean measured = intended >= measureFrom;
      if (measured) {
        stats.issued.increment();
      }
      if (!inFlight.tryAcquire()) {
        if (measured) {
          stats.dropped.increment();
        }
        continue;
      }
      ClientCalls.asyncUnaryCall(channel.newCall(RANK_BYTES, callOptions()), request, new Outcome() {
        @Override
        void done(Status.Code code) {
          if (measured) {
            stats.record((System.nanoTime() - intended) / 1000, code);
          }
          inFlight.release();
        }
      });
    }
    // Let the requests in flight answer (bounded), so they are counted.
    if (inFlight.tryAcquire(maxInFlight, deadlineMs == null ? 30_000 : deadlineMs + 5_000, TimeUnit.MILLISECONDS)) {
      inFlight.release(maxInFlight);
    }
    return new Report(String.format(Locale.ROOT, "open loop, %.1f rps", load.rps), target, candidates,
        (System.nanoTime() - measureFrom) / 1e9, stats);
  }

  private Report runInProcess() throws IOException, InterruptedException {
    Stats stats = new Stats();
    int scoring = scorerThreads == null ? Runtime.getRuntime().availableProcessors() : scorerThreads;
    try (LoadedModel m = loadModel(scoring)) {
      ModelConfig config = m.parameters().config();
      int tasks = config.numTasks();
      List<java.util.function.Supplier<RankRequest>> pools = new ArrayList<>();
      List<List<Batch>> batches = new ArrayList<>();
      for (int w = 0; w < threads; w++) {
        var requests = Requests.cycle(new Requests(seed + w, config.fields(), context, candidates), distinct);
        pools.add(requests);
        // --model-only: the same requests as model rows, encoded once here.
        List<Batch> encoded = new ArrayList<>();
        for (int i = 0; modelOnly && i < distinct; i++) {
          encoded.add(new RequestRows(m, "user_id", "item_id", candidates).encode(requests.get()));
        }
        batches.add(encoded);
      }
      long start = System.nanoTime();
      long measureFrom = start + seconds(warmup);
      long end = measureFrom + seconds(duration);
      List<Thread> workers = new ArrayList<>();
      for (int w = 0; w < threads; w++) {
        var requests = pools.get(w);
        List<Batch> encoded = batches.get(w);
        RequestRows rows = new RequestRows(m, "user_id", "item_id", candidates);
        workers.add(Thread.ofPlatform().name("hiformer-loadtest-" + w).daemon().start(() -> {
          float[] logits = new float[candidates * tasks];
          for (int i = 0; ; i = (i + 1) % distinct) {
            RankRequest request = modelOnly ? null : requests.get();
            long t0 = System.nanoTime();
            if (t0 >= end) {
              break;
            }
            Status.Code code = Status.Code.OK;
            try {
              m.scorer().score(modelOnly ? encoded.get(i) : rows.encode(request), logits);
            } catch (RuntimeException e) {
              code = Status.Code.UNKNOWN;
            }
            if (t0 >= measureFrom) {
              stats.issued.increment();
              stats.record((System.nanoTime() - t0) / 1000, code);
            }
          }
        }));
      }
      for (Thread t : workers) {
        t.join();
      }
      return new Report("in-process" + (modelOnly ? " model only" : "") + ", " + threads + " threads, scorer "
          + scoring + " cores", m.toString(),
          candidates, (System.nanoTime() - measureFrom) / 1e9, stats);
    }
  }

  private static long seconds(double s) {
    return Math.round(s * 1e9);
  }
}
