package io.hiformer.features.joiner;

import io.hiformer.proto.Outcome;
import io.hiformer.proto.RankLogEntry;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.streams.processor.TimestampExtractor;

/**
 * The joiner's clock: a rank-log entry's serving time and an outcome's event time, so stream time
 * (and with it every window decision) follows the events, whenever the records were written.
 * Records without a time keep their Kafka timestamp, and records stamped more than {@link
 * #MAX_AHEAD_MS} ahead of the wall clock keep the partition's time (one bogus time would otherwise
 * close every open request); the processor rejects both.
 */
final class EventTime implements TimestampExtractor {
  /** How far ahead of the wall clock an event time may be (clock skew between hosts). */
  static final long MAX_AHEAD_MS = 3_600_000;

  @Override
  public long extract(ConsumerRecord<Object, Object> record, long partitionTime) {
    long t = of(record.value());
    if (t > System.currentTimeMillis() + MAX_AHEAD_MS) {
      return Math.max(0, partitionTime);
    }
    return t > 0 ? t : Math.max(0, record.timestamp());
  }

  /** The event time a value carries; 0 when it has none. */
  static long of(Object value) {
    return switch (value) {
      case RankLogEntry e -> e.getServedTimeMs();
      case Outcome o -> o.getEventTimeMs();
      case null, default -> 0;
    };
  }
}
