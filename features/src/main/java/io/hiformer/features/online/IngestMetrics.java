package io.hiformer.features.online;

import io.hiformer.features.online.Rejection.Reason;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * The ingestor's meters, resolved once so the per-record path only increments. Kinds are indexed
 * 0 (user) and 1 (item); see {@code features/README.md} for names and meanings.
 */
final class IngestMetrics {
  static final String[] KINDS = {"user", "item"};

  private final Counter[] updates = new Counter[2];
  private final Counter[][] rejected = new Counter[2][Reason.values().length];
  private final Timer[] freshness = new Timer[2];
  private final Counter dlqFailures;
  private final Counter pollErrors;
  private final Counter commitErrors;
  final long[] lag = new long[2];
  volatile boolean caughtUp;

  /** 16 buckets, 10 ms to a day (a percentile histogram over that range would publish over a hundred). */
  static final Duration[] FRESHNESS_BUCKETS = {Duration.ofMillis(10), Duration.ofMillis(50), Duration.ofMillis(100),
      Duration.ofMillis(250), Duration.ofMillis(500), Duration.ofSeconds(1), Duration.ofMillis(2500),
      Duration.ofSeconds(5), Duration.ofSeconds(10), Duration.ofSeconds(30), Duration.ofMinutes(1),
      Duration.ofMinutes(5), Duration.ofMinutes(15), Duration.ofHours(1), Duration.ofHours(6), Duration.ofDays(1)};

  IngestMetrics(MeterRegistry registry) {
    for (int k = 0; k < 2; k++) {
      String kind = KINDS[k];
      updates[k] = Counter.builder("hiformer.features.updates").tag("kind", kind)
          .description("feature records applied to the store (updates and tombstones); rate() is updates/s")
          .register(registry);
      for (Reason r : Reason.values()) {
        rejected[k][r.ordinal()] = Counter.builder("hiformer.features.dlq").tag("kind", kind).tag("reason", r.tag())
            .description("malformed feature records sent to the dead-letter topic").register(registry);
      }
      freshness[k] = Timer.builder("hiformer.features.freshness").tag("kind", kind)
          .description("wall-clock time at apply minus the update's event time")
          .serviceLevelObjectives(FRESHNESS_BUCKETS)
          .register(registry);
      int index = k;
      Gauge.builder("hiformer.features.lag", this, m -> m.lagOf(index)).tag("kind", kind).baseUnit("records")
          .description("records on the feature topics not consumed yet, as of the last fetch").register(registry);
    }
    dlqFailures = Counter.builder("hiformer.features.dlq.failures")
        .description("rejected records the dead-letter topic did not take (logged with their source)")
        .register(registry);
    pollErrors = Counter.builder("hiformer.features.poll.errors")
        .description("errors of the consume loop, retried after a back-off").register(registry);
    commitErrors = Counter.builder("hiformer.features.commit.errors")
        .description("failed writes of the disk-backed store (retried with the next batch)").register(registry);
    Gauge.builder("hiformer.features.caught.up", this, m -> m.caughtUp ? 1 : 0)
        .description("1 once the ingestor has read the feature topics up to their end at start").register(registry);
  }

  private synchronized double lagOf(int kind) {
    return lag[kind];
  }

  synchronized void lag(long users, long items) {
    lag[0] = users;
    lag[1] = items;
  }

  void applied(int kind, long count) {
    if (count > 0) {
      updates[kind].increment(count);
    }
  }

  void freshness(int kind, long millis) {
    freshness[kind].record(Math.max(0, millis), TimeUnit.MILLISECONDS);
  }

  void rejected(int kind, Reason reason) {
    rejected[kind][reason.ordinal()].increment();
  }

  void dlqFailed() {
    dlqFailures.increment();
  }

  void commitFailed() {
    commitErrors.increment();
  }

  void pollFailed() {
    pollErrors.increment();
  }
}
