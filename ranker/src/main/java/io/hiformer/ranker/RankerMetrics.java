package io.hiformer.ranker;

import io.grpc.Attributes;
import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.hiformer.features.ranklog.RankLogWriter;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * Prometheus metrics of one {@link RankService} (see ranker/README.md, "Metrics"), in a
 * {@link PrometheusMeterRegistry}. {@link #interceptor()} times every Rank call and counts its
 * closing status, including calls shed by the {@link ConcurrencyLimit} when it is applied outside
 * the limit. The interceptor attaches a {@link CallInfo} to each call (an attribute of the call,
 * {@link #callInfo}), which the service is handed with the call's request and fills in with the
 * call's arm and candidates scored. Meters are resolved once per arm and status and cached.
 */
final class RankerMetrics {
  /** The arm tag of calls that never reached an arm (shed, or failed before one was picked). */
  public static final String NO_ARM = "none";

  /** What the service learns about a call; set on the call's thread, read when it closes. */
  static final class CallInfo {
    volatile String arm = NO_ARM;
    volatile int scored;
  }

  private static final Attributes.Key<CallInfo> CALL = Attributes.Key.create("hiformer-rank-call");

  /** The {@link CallInfo} the interceptor attached to {@code call}; a detached one when there is none. */
  static CallInfo callInfo(ServerCall<?, ?> call) {
    Attributes attributes = call.getAttributes();
    CallInfo info = attributes == null ? null : attributes.get(CALL);
    return info == null ? new CallInfo() : info;
  }

  private static final Status.Code[] CODES = Status.Code.values();

  /**
   * The latency histogram's buckets (plus +Inf): 21 from 0.5 ms to 10 s, fine where calls are
   * answered; Micrometer's percentile histogram would publish 276 a series.
   */
  static final java.time.Duration[] LATENCY_BUCKETS = java.util.stream.DoubleStream.of(
      0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000, 2000, 5000, 10000)
      .mapToObj(ms -> java.time.Duration.ofNanos(Math.round(ms * 1e6))).toArray(java.time.Duration[]::new);

  private final PrometheusMeterRegistry registry;
  private final ConcurrentHashMap<String, ArmMeters> arms = new ConcurrentHashMap<>();
  private final AtomicReferenceArray<Counter> errors = new AtomicReferenceArray<>(CODES.length);
  private final Counter swaps;
  private final Counter refusals;
  private final Counter watcherFailures;
  private final List<Gauge> versionGauges = new ArrayList<>();
  private final ServerInterceptor interceptor = new Interceptor();

  /** Meters with a fresh registry of their own. */
  public RankerMetrics() {
    this(new PrometheusMeterRegistry(PrometheusConfig.DEFAULT));
  }

  public RankerMetrics(PrometheusMeterRegistry registry) {
    this.registry = Objects.requireNonNull(registry, "registry");
    this.swaps = Counter.builder("hiformer.model.swaps")
        .description("Served models or arms replaced (RankService.swap, setArms, experiments reloads)")
        .register(registry);
    this.refusals = Counter.builder("hiformer.model.refusals")
        .description("Experiments reloads refused (unreadable file, invalid file or model)")
        .register(registry);
    this.watcherFailures = Counter.builder("hiformer.model.watcher.failures")
        .description("Unexpected failures (such as an Error) of the registry watcher's polls and loads; it goes on polling")
        .register(registry);
  }

  public PrometheusMeterRegistry registry() {
    return registry;
  }

  /** The Prometheus text exposition of every meter. */
  public String scrape() {
    return registry.scrape();
  }

  /** Times Rank calls and counts their statuses; apply it outside the concurrency limit. */
  public ServerInterceptor interceptor() {
    return interceptor;
  }

  /** Sets {@code hiformer_model_version} to the arms served now (arms no longer served are dropped). */
  synchronized void served(ServedArms served) {
    versionGauges.forEach(registry::remove);
    versionGauges.clear();
    for (ServedArm a : served.arms()) {
      long version = a.model().version();
      versionGauges.add(Gauge.builder("hiformer.model.version", () -> version)
          .description("Version of the model each arm serves")
          .tags("arm", a.name(), "model", a.model().name())
          .strongReference(true)
          .register(registry));
      java.time.Instant created = a.model().verified().created();
      if (created != null) {
        double seconds = created.toEpochMilli() / 1000.0;
        versionGauges.add(Gauge.builder("hiformer.model.created.timestamp", () -> seconds)
            .description("When the registry published the version each arm serves (Unix seconds); the model's age"
                + " is time() minus this")
            .baseUnit("seconds")
            .tags("arm", a.name(), "model", a.model().name())
            .strongReference(true)
            .register(registry));
      }
    }
  }

  /** {@code hiformer_rank_log_entries_total{result=sent|dropped|failed}}: what became of each call's rank-log entry. */
  void rankLog(RankLogWriter writer) {
    FunctionCounter.builder("hiformer.rank.log.entries", writer, RankLogWriter::sent)
        .description("Rank-log entries: sent (acknowledged by Kafka), dropped (buffer full), failed (undeliverable)")
        .tag("result", "sent").register(registry);
    FunctionCounter.builder("hiformer.rank.log.entries", writer, RankLogWriter::dropped)
        .description("Rank-log entries: sent (acknowledged by Kafka), dropped (buffer full), failed (undeliverable)")
        .tag("result", "dropped").register(registry);
    FunctionCounter.builder("hiformer.rank.log.entries", writer, RankLogWriter::failed)
        .description("Rank-log entries: sent (acknowledged by Kafka), dropped (buffer full), failed (undeliverable)")
        .tag("result", "failed").register(registry);
  }

  void swapped() {
    swaps.increment();
  }

  void refused() {
    refusals.increment();
  }

  void watcherFailed() {
    watcherFailures.increment();
  }

  private void closed(CallInfo info, Status.Code code, long nanos) {
    ArmMeters m = arms.computeIfAbsent(info.arm, ArmMeters::new);
    m.timer(code).record(nanos, java.util.concurrent.TimeUnit.NANOSECONDS);
    if (info.scored > 0) {
      m.scored.increment(info.scored);
    }
    if (code != Status.Code.OK) {
      Counter c = errors.get(code.ordinal());
      if (c == null) {
        c = Counter.builder("hiformer.rank.errors")
            .description("Rank calls that failed, by gRPC status code")
            .tag("status", code.name())
            .register(registry);
        errors.set(code.ordinal(), c);
      }
      c.increment();
    }
  }

  private final class ArmMeters {
    final String arm;
    final Counter scored;
    final AtomicReferenceArray<Timer> timers = new AtomicReferenceArray<>(CODES.length);

    ArmMeters(String arm) {
      this.arm = arm;
      this.scored = Counter.builder("hiformer.candidates.scored")
          .description("Candidates scored, by arm")
          .tag("arm", arm)
          .register(registry);
    }

    Timer timer(Status.Code code) {
      Timer t = timers.get(code.ordinal());
      if (t == null) {
        t = Timer.builder("hiformer.rank.latency")
            .description("Server-side Rank call latency, by arm and gRPC status code")
            .tags("arm", arm, "status", code.name())
            .serviceLevelObjectives(LATENCY_BUCKETS)
            .register(registry);
        timers.set(code.ordinal(), t);
      }
      return t;
    }
  }

  private final class Interceptor implements ServerInterceptor {
    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
        ServerCallHandler<Q, R> next) {
      long start = System.nanoTime();
      CallInfo info = new CallInfo();
      Attributes given = call.getAttributes();
      Attributes attributes = (given == null ? Attributes.newBuilder() : given.toBuilder()).set(CALL, info).build();
      ServerCall<Q, R> observed = new SimpleForwardingServerCall<>(call) {
        @Override
        public void close(Status status, Metadata trailers) {
          closed(info, status.getCode(), System.nanoTime() - start);
          super.close(status, trailers);
        }

        @Override
        public Attributes getAttributes() {
          return attributes;
        }
      };
      return next.startCall(observed, headers);
    }
  }
}
