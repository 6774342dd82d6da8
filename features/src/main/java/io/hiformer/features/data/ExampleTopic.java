package io.hiformer.features.data;

import com.google.protobuf.InvalidProtocolBufferException;
import io.hiformer.features.BadRowException;
import io.hiformer.features.BadRows;
import io.hiformer.proto.TrainingExample;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.function.Predicate;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * A range of a topic of {@link TrainingExample}s (the joiner's {@code examples}) as a data source:
 * {@link #resolve} turns two {@link Bound}s into fixed offsets per partition, {@link #read} reads
 * exactly those records and stops. The same resolved range always gives the same examples (while
 * retention keeps them), so a run can name its data by offsets. Only committed records are read
 * ({@code read_committed}): the joiner writes transactionally.
 */
public final class ExampleTopic {
  private static final Duration IDLE_TIMEOUT = Duration.ofSeconds(30);

  private ExampleTopic() {}

  /** One end of a range. */
  public sealed interface Bound {
    /** The first offset still in each partition. */
    record Beginning() implements Bound {
      @Override
      public String toString() {
        return "beginning";
      }
    }

    /** The end of each partition when the range is resolved (the last committed offset + 1). */
    record End() implements Bound {
      @Override
      public String toString() {
        return "end";
      }
    }

    /** The first record of each partition with a time stamp at or after {@code time}. */
    record At(Instant time) implements Bound {
      @Override
      public String toString() {
        return time.toString();
      }
    }

    /** An offset for every partition. */
    record Offsets(Map<Integer, Long> offsets) implements Bound {
      public Offsets {
        offsets = Collections.unmodifiableMap(new TreeMap<>(offsets));
      }

      @Override
      public String toString() {
        StringBuilder s = new StringBuilder();
        offsets.forEach((p, o) -> s.append(s.isEmpty() ? "" : ",").append(p).append(':').append(o));
        return s.toString();
      }
    }

    /**
     * {@code beginning}, {@code end}, an ISO-8601 instant ({@code 2025-03-01T00:00:00Z}) or
     * offsets for every partition ({@code 0:1200,1:1185}).
     */
    static Bound parse(String text) {
      String s = text.strip();
      if (s.equals("beginning")) {
        return new Beginning();
      }
      if (s.equals("end")) {
        return new End();
      }
      if (s.matches("\\d+:\\d+(,\\d+:\\d+)*")) {
        Map<Integer, Long> offsets = new HashMap<>();
        for (String part : s.split(",")) {
          String[] po = part.split(":");
          if (offsets.put(Integer.parseInt(po[0]), Long.parseLong(po[1])) != null) {
            throw new IllegalArgumentException("'" + text + "' names partition " + po[0] + " twice");
          }
        }
        return new Offsets(offsets);
      }
      try {
        return new At(Instant.parse(s));
      } catch (DateTimeParseException e) {
        throw new IllegalArgumentException("'" + text + "' is not a range bound: use beginning, end, a time such as"
            + " 2025-03-01T00:00:00Z, or offsets per partition such as 0:1200,1:1185");
      }
    }
  }

  /** Offsets {@code [from, to)} of one partition. */
  public record Slice(int partition, long from, long to) {
    public long size() {
      return Math.max(0, to - from);
    }
  }

  /** A resolved range: a slice for every partition of the topic, by partition number. */
  public record Range(String topic, List<Slice> slices) {
    public Range {
      slices = List.copyOf(slices);
    }

    /** Records in the range (transaction markers included, so an upper bound of the examples). */
    public long size() {
      return slices.stream().mapToLong(Slice::size).sum();
    }

    /** The start offsets, as a bound that gives this range again. */
    public Bound.Offsets from() {
      Map<Integer, Long> m = new LinkedHashMap<>();
      slices.forEach(s -> m.put(s.partition(), s.from()));
      return new Bound.Offsets(m);
    }

    /** The end offsets (exclusive), as a bound that gives this range again. */
    public Bound.Offsets to() {
      Map<Integer, Long> m = new LinkedHashMap<>();
      slices.forEach(s -> m.put(s.partition(), Math.max(s.from(), s.to())));
      return new Bound.Offsets(m);
    }

    @Override
    public String toString() {
      return topic + " from " + from() + " to " + to();
    }
  }

  /** Fixes {@code [from, to)} of {@code topic} to offsets; fails naming a bound that does not fit the topic. */
  public static Range resolve(String bootstrapServers, String topic, Bound from, Bound to) {
    try (KafkaConsumer<byte[], byte[]> consumer = consumer(bootstrapServers)) {
      List<PartitionInfo> infos = consumer.partitionsFor(topic, IDLE_TIMEOUT);
      if (infos == null || infos.isEmpty()) {
        throw new IllegalArgumentException("topic " + topic + " does not exist");
      }
      List<TopicPartition> partitions = infos.stream().map(p -> new TopicPartition(topic, p.partition()))
          .sorted(java.util.Comparator.comparingInt(TopicPartition::partition)).toList();
      Map<TopicPartition, Long> first = consumer.beginningOffsets(partitions);
      Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
      Map<TopicPartition, Long> start = offsets(consumer, partitions, from, first, end, "from");
      Map<TopicPartition, Long> stop = offsets(consumer, partitions, to, first, end, "to");
      List<Slice> slices = new ArrayList<>();
      for (TopicPartition tp : partitions) {
        slices.add(new Slice(tp.partition(), start.get(tp), stop.get(tp)));
      }
      return new Range(topic, slices);
    }
  }

  private static Map<TopicPartition, Long> offsets(KafkaConsumer<byte[], byte[]> consumer, List<TopicPartition> partitions,
      Bound bound, Map<TopicPartition, Long> first, Map<TopicPartition, Long> end, String which) {
    Map<TopicPartition, Long> out = new HashMap<>();
    switch (bound) {
      case Bound.Beginning b -> out.putAll(first);
      case Bound.End e -> out.putAll(end);
      case Bound.At at -> {
        Map<TopicPartition, Long> query = new HashMap<>();
        partitions.forEach(tp -> query.put(tp, at.time().toEpochMilli()));
        Map<TopicPartition, OffsetAndTimestamp> found = consumer.offsetsForTimes(query);
        partitions.forEach(tp -> out.put(tp, found.get(tp) == null ? end.get(tp) : found.get(tp).offset()));
      }
      case Bound.Offsets o -> {
        for (TopicPartition tp : partitions) {
          Long offset = o.offsets().get(tp.partition());
          if (offset == null) {
            throw new IllegalArgumentException("--" + which + " " + o + " gives no offset for partition "
                + tp.partition() + " of " + tp.topic() + ", which has " + partitions.size() + " partitions");
          }
          if (offset < first.get(tp) || offset > end.get(tp)) {
            throw new IllegalArgumentException("--" + which + " offset " + offset + " of partition " + tp.partition()
                + " of " + tp.topic() + " is outside [" + first.get(tp) + ", " + end.get(tp) + "], the offsets"
                + " the partition holds now (earlier ones were deleted by retention)");
          }
          out.put(tp, offset);
        }
        if (o.offsets().size() > partitions.size()) {
          throw new IllegalArgumentException("--" + which + " " + o + " names partitions that " + partitions.getFirst().topic()
              + " does not have (it has " + partitions.size() + ")");
        }
      }
    }
    return out;
  }

  /**
   * The examples of {@code range}: those {@code select} accepts and that fit {@code rows}' model
   * config. Examples that do not parse or fit go to {@code badRows}, located
   * {@code topic/partition@offset}; those {@code select} refuses are skipped. Each iteration
   * reads the range again; one that makes no progress for 30 s (broker gone) fails.
   */
  public static Iterable<TrainingExample> read(String bootstrapServers, Range range, Predicate<TrainingExample> select,
      ExampleRows rows, BadRows badRows) {
    Objects.requireNonNull(select, "select");
    return () -> new Examples(bootstrapServers, range, select, rows, badRows);
  }

  private static KafkaConsumer<byte[], byte[]> consumer(String bootstrapServers) {
    return new KafkaConsumer<>(Map.of(
        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers,
        ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed",
        ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false,
        ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "none",
        ConsumerConfig.CLIENT_ID_CONFIG, "hiformer-example-reader"),
        new ByteArrayDeserializer(), new ByteArrayDeserializer());
  }

  /** Reads the slices one after the other, in partition order, so every pass sees the same order. */
  private static final class Examples extends ReadAhead<TrainingExample> {
    private final KafkaConsumer<byte[], byte[]> consumer;
    private final String topic;
    private final Predicate<TrainingExample> select;
    private final ExampleRows rows;
    private final BadRows badRows;
    private final Iterator<Slice> slices;
    private TopicPartition partition;
    private long end;
    private Iterator<ConsumerRecord<byte[], byte[]>> polled = Collections.emptyIterator();
    private long lastProgress;

    Examples(String bootstrapServers, Range range, Predicate<TrainingExample> select, ExampleRows rows,
        BadRows badRows) {
      this.select = select;
      this.rows = rows;
      this.badRows = badRows;
      this.slices = range.slices().stream().filter(s -> s.size() > 0).iterator();
      this.consumer = consumer(bootstrapServers);
      this.topic = range.topic();
    }

    @Override
    TrainingExample read() {
      while (true) {
        while (polled.hasNext()) {
          ConsumerRecord<byte[], byte[]> r = polled.next();
          if (r.offset() >= end) {
            break; // fetched past the slice's end
          }
          TrainingExample example = parse(r);
          if (example != null) {
            return example;
          }
        }
        if (partition == null || consumer.position(partition) >= end) {
          if (!slices.hasNext()) {
            return null;
          }
          Slice next = slices.next();
          partition = new TopicPartition(topic, next.partition());
          end = next.to();
          consumer.assign(List.of(partition));
          consumer.seek(partition, next.from());
          polled = Collections.emptyIterator();
          lastProgress = System.nanoTime();
        }
        var records = consumer.poll(Duration.ofMillis(200));
        if (!records.isEmpty()) {
          lastProgress = System.nanoTime();
        } else if (System.nanoTime() - lastProgress > IDLE_TIMEOUT.toNanos()) {
          throw new IllegalStateException("no records from " + partition + " for " + IDLE_TIMEOUT.toSeconds()
              + " s at offset " + consumer.position(partition) + ", reading up to offset " + end);
        }
        polled = records.iterator();
      }
    }

    private TrainingExample parse(ConsumerRecord<byte[], byte[]> r) {
      String location = r.topic() + "/" + r.partition() + "@" + r.offset();
      if (r.value() == null) {
        badRows.reject(new BadRowException(location, "record has no value"));
        return null;
      }
      TrainingExample example;
      try {
        example = TrainingExample.parseFrom(r.value());
      } catch (InvalidProtocolBufferException e) {
        badRows.reject(new BadRowException(location, "not a TrainingExample: " + e.getMessage()));
        return null;
      }
      if (!select.test(example)) {
        return null;
      }
      try {
        rows.check(example);
        return example;
      } catch (IllegalArgumentException e) {
        badRows.reject(new BadRowException(location, e.getMessage()));
        return null;
      }
    }

    @Override
    void release() {
      consumer.close(org.apache.kafka.clients.consumer.CloseOptions.timeout(Duration.ofSeconds(5)));
    }
  }
}
