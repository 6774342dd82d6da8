package io.hiformer.features.online;

import io.hiformer.features.kafka.TopicNames;
import io.hiformer.features.FeatureSchema;
import io.hiformer.localkafka.KafkaBroker;
import io.hiformer.proto.EntityKind;
import io.hiformer.proto.FeatureUpdate;
import io.hiformer.proto.FeatureValue;
import io.hiformer.proto.StringList;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.locks.LockSupport;
import org.HdrHistogram.Histogram;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Ingestion throughput and update-to-visible latency on a real in-process broker (see
 * {@code features/README.md}, "Benchmark"):
 *
 * <ol>
 *   <li>pre-fills {@code features.user} with {@code --updates} updates of 10 fields over
 *       {@code --entities} users;
 *   <li>per round, reads them all from the beginning with (a) a bare consumer that only polls and
 *       parses each value as a FeatureUpdate, and (b) a {@link FeatureIngestor} into a fresh
 *       {@link FeatureStore} (time to caught-up); alternating which goes first;
 *   <li>reports updates/s (wall clock) and microseconds of process CPU per update (broker and GC
 *       included, so less sensitive to other load on the machine), per round and as medians;
 *   <li>publishes unique users open-loop at {@code --rate} updates/s for {@code --seconds} while an
 *       ingestor tails, and measures from each update's intended send time until the store shows
 *       it (HdrHistogram).
 * </ol>
 *
 * Arguments: {@code --updates N --entities K --partitions P --warmup W --rounds R --rate U --seconds S}
 * (defaults 1,000,000, 100,000, 2, 1, 5, 10,000, 20); the warm-up rounds are not counted.
 */
public final class IngestBenchmark {
  private static final String[] FIELDS = {"country", "language", "device", "city", "segment", "cohort", "age",
      "spend", "sessions", "recent"};
  private static final FeatureSchema SCHEMA = FeatureSchema.parse("""
      tasks: [{name: click}]
      fields:
        - {name: user_id, kind: categorical, side: user}
        - {name: country, kind: categorical, side: user}
        - {name: language, kind: categorical, side: user}
        - {name: device, kind: categorical, side: user}
        - {name: city, kind: categorical, side: user, hash_buckets: 1000}
        - {name: segment, kind: categorical, side: user}
        - {name: cohort, kind: categorical, side: user}
        - {name: age, kind: dense, side: user}
        - {name: spend, kind: dense, side: user}
        - {name: sessions, kind: dense, side: user}
        - {name: recent, kind: bag, side: user, hash_buckets: 10000}
        - {name: item_id, kind: categorical, side: item}
      """);

  public static void main(String[] args) throws Exception {
    Map<String, Long> a = parse(args);
    int updates = a.get("updates").intValue();
    int entities = a.get("entities").intValue();
    int partitions = a.get("partitions").intValue();
    int rounds = a.get("rounds").intValue();
    int warmup = a.get("warmup").intValue();
    int rate = a.get("rate").intValue();
    int seconds = a.get("seconds").intValue();
    System.out.printf("cores %d, %s%n", Runtime.getRuntime().availableProcessors(),
        ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage() + " load average at start");

    try (KafkaBroker kafka = KafkaBroker.forTests()) {
      TopicNames topics = new TopicNames("bench.");
      Kafkas.createTopics(kafka, topics, partitions);
      long bytes = prefill(kafka, topics, updates, entities);
      System.out.printf("pre-filled %s: %,d updates of %d fields over %,d users, %.1f MB of values (%d bytes each)%n",
          topics.featuresUser(), updates, FIELDS.length, entities, bytes / 1e6, bytes / updates);

      for (int w = 0; w < warmup; w++) {
        System.out.printf("warm-up round %d (not counted): bare consumer %,.0f updates/s, ingestor %,.0f updates/s%n",
            w + 1, bare(kafka, topics, updates), ingest(kafka, topics, updates, entities, false));
      }
      double[] bare = new double[rounds];
      double[] ingest = new double[rounds];
      double[] ratio = new double[rounds];
      double[] bareCpu = new double[rounds];
      double[] ingestCpu = new double[rounds];
      for (int r = 0; r < rounds; r++) {
        long cpu0 = cpuNanos();
        if (r % 2 == 0) {
          bare[r] = bare(kafka, topics, updates);
          bareCpu[r] = (cpuNanos() - cpu0) / 1e3 / updates;
          long cpu1 = cpuNanos();
          ingest[r] = ingest(kafka, topics, updates, entities, false);
          ingestCpu[r] = (cpuNanos() - cpu1) / 1e3 / updates;
        } else {
          ingest[r] = ingest(kafka, topics, updates, entities, false);
          ingestCpu[r] = (cpuNanos() - cpu0) / 1e3 / updates;
          long cpu1 = cpuNanos();
          bare[r] = bare(kafka, topics, updates);
          bareCpu[r] = (cpuNanos() - cpu1) / 1e3 / updates;
        }
        ratio[r] = ingest[r] / bare[r];
        System.out.printf("round %d: bare consumer %,.0f updates/s (%.2f us CPU each), ingestor %,.0f updates/s"
            + " (%.2f us CPU each), ratio %.2f%n", r + 1, bare[r], bareCpu[r], ingest[r], ingestCpu[r], ratio[r]);
      }
      System.out.printf("median: bare consumer %,.0f updates/s (%.2f us CPU each), ingestor %,.0f updates/s"
          + " (%.2f us CPU each), ratio %.2f (median of the rounds' ratios %.2f)%n", median(bare), median(bareCpu),
          median(ingest), median(ingestCpu), median(ingest) / median(bare), median(ratio));
      ingest(kafka, topics, updates, entities, true); // once more, outside the timed rounds, for the heap it takes

      latency(kafka, new TopicNames("latency."), rate, seconds);
    }
  }

  private static Map<String, Long> parse(String[] args) {
    Map<String, Long> a = new HashMap<>(Map.of("updates", 1_000_000L, "entities", 100_000L, "partitions", 2L,
        "rounds", 5L, "warmup", 1L, "rate", 10_000L, "seconds", 20L));
    for (int i = 0; i + 1 < args.length; i += 2) {
      String key = args[i].replaceFirst("^--", "");
      if (!a.containsKey(key)) {
        throw new IllegalArgumentException("unknown option " + args[i] + "; options: " + a.keySet());
      }
      a.put(key, Long.parseLong(args[i + 1]));
    }
    return a;
  }

  /** Writes the updates; returns the bytes of their values. */
  private static long prefill(KafkaBroker kafka, TopicNames topics, int updates, int entities) {
    Random random = new Random(1);
    long bytes = 0;
    try (var producer = new KafkaProducer<>(Map.<String, Object>of(
        ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
        ProducerConfig.LINGER_MS_CONFIG, 20, ProducerConfig.BATCH_SIZE_CONFIG, 1 << 20,
        ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, 1),
        new StringSerializer(), new ByteArraySerializer())) {
      for (int i = 0; i < updates; i++) {
        String user = "u" + (i % entities);
        byte[] value = tenFields(user, i + 1, random).toByteArray();
        bytes += value.length;
        producer.send(new ProducerRecord<>(topics.featuresUser(), user, value));
      }
      producer.flush();
    }
    return bytes;
  }

  static FeatureUpdate tenFields(String user, long time, Random random) {
    return FeatureUpdate.newBuilder().setEntityKind(EntityKind.ENTITY_KIND_USER).setEntityId(user).setEventTimeMs(time)
        .putFields("country", cat("c" + random.nextInt(200)))
        .putFields("language", cat("l" + random.nextInt(50)))
        .putFields("device", cat("d" + random.nextInt(20)))
        .putFields("city", cat("city" + random.nextInt(100_000)))
        .putFields("segment", FeatureValue.newBuilder().setId(random.nextInt(1000)).build())
        .putFields("cohort", FeatureValue.newBuilder().setId(random.nextInt(100)).build())
        .putFields("age", dense(18 + random.nextInt(60)))
        .putFields("spend", dense(random.nextDouble() * 500))
        .putFields("sessions", dense(random.nextInt(1000)))
        .putFields("recent", FeatureValue.newBuilder().setBag(StringList.newBuilder()
            .addValues("i" + random.nextInt(1_000_000)).addValues("i" + random.nextInt(1_000_000))
            .addValues("i" + random.nextInt(1_000_000))).build())
        .build();
  }

  private static FeatureValue cat(String v) {
    return FeatureValue.newBuilder().setCategorical(v).build();
  }

  private static FeatureValue dense(double v) {
    return FeatureValue.newBuilder().setDense(v).build();
  }

  /** Polls and parses every record with the ingestor's consumer settings; returns updates/s. */
  private static double bare(KafkaBroker kafka, TopicNames topics, int updates) throws Exception {
    long start = System.nanoTime();
    long checksum = 0;
    int seen = 0;
    try (var consumer = new KafkaConsumer<>(FeatureIngestor.consumerConfig(kafka.bootstrapServers(), "bare"),
        new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      List<TopicPartition> all = new ArrayList<>();
      consumer.partitionsFor(topics.featuresUser(), Duration.ofSeconds(5))
          .forEach(p -> all.add(new TopicPartition(p.topic(), p.partition())));
      consumer.assign(all);
      consumer.seekToBeginning(all);
      while (seen < updates) {
        ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(100));
        seen += records.count();
        checksum += parseAll(records);
      }
    }
    double perSecond = updates / ((System.nanoTime() - start) / 1e9);
    if (checksum == 42) {
      System.out.println(); // keeps the parsing from being optimised away
    }
    return perSecond;
  }

  /** One poll's parsing, in a method of its own so it compiles like the ingestor's (not only on stack replacement). */
  private static long parseAll(ConsumerRecords<byte[], byte[]> records) throws Exception {
    long checksum = 0;
    for (ConsumerRecord<byte[], byte[]> r : records) {
      FeatureUpdate u = FeatureUpdate.parseFrom(r.value());
      checksum += u.getEventTimeMs() + u.getFieldsCount();
    }
    return checksum;
  }

  /** Ingests every record into a fresh store; returns updates/s from start to caught up. */
  private static double ingest(KafkaBroker kafka, TopicNames topics, int updates, int entities, boolean measureHeap)
      throws Exception {
    long heapBefore = measureHeap ? usedHeap() : 0;
    FeatureStore store = new FeatureStore(StoreSchema.of(SCHEMA.fields()), FeatureStore.DEFAULT_MAX_ENTITIES);
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    long start = System.nanoTime();
    double perSecond;
    try (FeatureIngestor ingestor = FeatureIngestor.start(
        FeatureIngestor.Settings.of(kafka.bootstrapServers(), topics), store, registry)) {
      if (!ingestor.awaitCaughtUp(Duration.ofMinutes(5))) {
        throw new IllegalStateException("the ingestor did not catch up in 5 minutes");
      }
      perSecond = updates / ((System.nanoTime() - start) / 1e9);
      double applied = registry.get("hiformer.features.updates").tag("kind", "user").counter().count();
      if (applied != updates || store.size(EntityKind.ENTITY_KIND_USER) != entities) {
        throw new IllegalStateException("applied " + applied + " updates, holds " + store.size(EntityKind.ENTITY_KIND_USER));
      }
    }
    if (measureHeap) {
      long held = usedHeap() - heapBefore;
      System.out.printf("store heap: %.1f MB for %,d users of %d fields, about %,d bytes per user%n",
          held / 1e6, entities, FIELDS.length, held / entities);
      if (store.user("u0") == null) {
        throw new IllegalStateException("store emptied"); // keeps the store reachable until measured
      }
    }
    return perSecond;
  }

  /** CPU time of this whole process (broker, clients and GC included). */
  static long cpuNanos() {
    return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
  }

  private static long usedHeap() {
    for (int i = 0; i < 3; i++) {
      System.gc();
    }
    Runtime rt = Runtime.getRuntime();
    return rt.totalMemory() - rt.freeMemory();
  }

  /** Open-loop publishing of unique users at {@code rate}/s; latency from intended send to visible in the store. */
  private static void latency(KafkaBroker kafka, TopicNames topics, int rate, int seconds) throws Exception {
    Kafkas.createTopics(kafka, topics, 2);
    FeatureStore store = new FeatureStore(StoreSchema.of(SCHEMA.fields()), FeatureStore.DEFAULT_MAX_ENTITIES);
    int warmup = 2 * rate;
    int total = warmup + seconds * rate;
    long[] intended = new long[total];
    Histogram histogram = new Histogram(60_000_000L, 3);
    try (FeatureIngestor ingestor = FeatureIngestor.start(
        FeatureIngestor.Settings.of(kafka.bootstrapServers(), topics), store, new SimpleMeterRegistry());
        FeaturePublisher publisher = new FeaturePublisher(kafka.bootstrapServers(), topics)) {
      if (!ingestor.awaitCaughtUp(Duration.ofSeconds(30))) {
        throw new IllegalStateException("the ingestor did not catch up");
      }
      long start = System.nanoTime() + 100_000_000L;
      for (int i = 0; i < total; i++) {
        intended[i] = start + (long) i * 1_000_000_000L / rate;
      }
      Thread sender = new Thread(() -> {
        Random random = new Random(2);
        for (int i = 0; i < total; i++) {
          long wait = intended[i] - System.nanoTime();
          if (wait > 0) {
            LockSupport.parkNanos(wait);
          }
          publisher.send(tenFields("l" + i, System.currentTimeMillis(), random));
        }
      }, "open-loop-sender");
      sender.start();
      for (int i = 0; i < total; i++) {
        String user = "l" + i;
        while (store.user(user) == null) {
          LockSupport.parkNanos(20_000);
        }
        if (i >= warmup) {
          histogram.recordValue((System.nanoTime() - intended[i]) / 1000);
        }
      }
      sender.join();
      publisher.flush();
    }
    System.out.printf("latency at %,d updates/s for %d s (after 2 s warm-up), intended send to visible in the store:"
        + " p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms (%,d updates)%n", rate, seconds,
        histogram.getValueAtPercentile(50) / 1e3, histogram.getValueAtPercentile(90) / 1e3,
        histogram.getValueAtPercentile(99) / 1e3, histogram.getValueAtPercentile(99.9) / 1e3,
        histogram.getMaxValue() / 1e3, histogram.getTotalCount());
  }

  private static double median(double[] xs) {
    double[] s = xs.clone();
    Arrays.sort(s);
    return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  }
}
