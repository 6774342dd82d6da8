package io.hiformer.features.joiner;

import io.hiformer.proto.Outcome;
import io.hiformer.proto.RankLogEntry;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.streams.processor.TimestampExtractor;

/**
 * The joiner's clock: a rank-log entry's serving time and an outcome's event time, so stream time
 * (and with it every window decision) follows the events, whenever the records were written.
 * Records without a time keep their Kafka timestamp and are rejected by the processor.
 */
public final class EventTime implements TimestampExtractor {
  @Override
  public long extract(ConsumerRecord<Object, Object> record, long partitionTime) {
    long t = switch (record.value()) {
      case RankLogEntry e -> e.getServedTimeMs();
      case Outcome o -> o.getEventTimeMs();
      case null, default -> 0;
    };
    return t > 0 ? t : Math.max(0, record.timestamp());
  }
}
