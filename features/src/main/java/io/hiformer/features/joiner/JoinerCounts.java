package io.hiformer.features.joiner;

import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

/**
 * What a joiner instance has done, summed over its stream threads. In-memory and per instance: a
 * task that is retried after a failure (exactly-once aborts and reprocesses) counts again.
 */
public final class JoinerCounts {
  final LongAdder requests = new LongAdder();
  final LongAdder outcomes = new LongAdder();
  final LongAdder closed = new LongAdder();
  final LongAdder examples = new LongAdder();
  final LongAdder positives = new LongAdder();
  final LongAdder waiting = new LongAdder();
  private final EnumMap<Rejected.Reason, LongAdder> rejected = new EnumMap<>(Rejected.Reason.class);

  public JoinerCounts() {
    for (Rejected.Reason r : Rejected.Reason.values()) {
      rejected.put(r, new LongAdder());
    }
  }

  void rejected(Rejected.Reason reason) {
    rejected.get(reason).increment();
  }

  /** Rank-log entries taken into the join state. */
  public long requests() {
    return requests.sum();
  }

  /** Outcomes attached to a served candidate. */
  public long outcomesJoined() {
    return outcomes.sum();
  }

  /** Requests whose window closed, so their examples were emitted. */
  public long requestsClosed() {
    return closed.sum();
  }

  /** Training examples emitted. */
  public long examples() {
    return examples.sum();
  }

  /** Examples with at least one label above 0. */
  public long positives() {
    return positives.sum();
  }

  /** Outcomes that arrived before their request's rank-log entry and wait for it, now. */
  public long outcomesWaiting() {
    return waiting.sum();
  }

  /** Records sent to the dead-letter topic, by reason code (e.g. {@code late}). */
  public Map<String, Long> rejected() {
    Map<String, Long> out = new LinkedHashMap<>();
    rejected.forEach((reason, n) -> out.put(reason.code(), n.sum()));
    return out;
  }

  @Override
  public String toString() {
    Map<String, Long> dlq = new LinkedHashMap<>();
    rejected().forEach((k, v) -> {
      if (v > 0) {
        dlq.put(k, v);
      }
    });
    return String.format("requests %d, outcomes joined %d (%d waiting for their request), closed %d, examples %d"
        + " (%d with a positive label), dead-lettered %s", requests(), outcomesJoined(), outcomesWaiting(),
        requestsClosed(), examples(), positives(), dlq);
  }
}
