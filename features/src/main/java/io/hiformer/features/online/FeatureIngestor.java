package io.hiformer.features.online;

import io.hiformer.features.kafka.TopicNames;
import com.google.protobuf.InvalidProtocolBufferException;
import io.hiformer.features.online.Rejection.Reason;
import io.hiformer.proto.EntityKind;
import io.hiformer.proto.FeatureUpdate;
import io.micrometer.core.instrument.MeterRegistry;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Keeps an {@link OnlineStore} up to date from the topics {@code features.user} and
 * {@code features.item}: a full replica on every ranker, so it assigns itself all their
 * partitions (no consumer group, no rebalancing, no committed offsets), reads them from the
 * beginning (or, for a {@link OnlineStore#durable} store, from the positions it committed with its
 * data), reports {@link #caughtUp()} once it has reached the end offsets it found at start,
 * then tails them.
 *
 * <p>A record that is not a valid update for the store (unparsable, key other than entity_id,
 * wrong kind, unknown field, wrong value type, NaN...) is sent to {@code features.dlq} with its
 * key, value and headers plus {@value #REASON_HEADER}, {@value #REASON_CODE_HEADER} and
 * {@value #SOURCE_HEADER} headers; ingestion goes on. A record whose value is null (a tombstone)
 * removes the entity. A lost connection or a broker restart is retried by the Kafka client from
 * the positions held in memory, so nothing is skipped.
 *
 * <p>Two threads: {@code hiformer-features-ingest} polls and parses, {@code hiformer-features-apply}
 * merges into the store (see {@link Applier}); see {@code features/README.md} for the consumer
 * settings and metrics.
 */
public final class FeatureIngestor implements AutoCloseable {
  public static final String REASON_HEADER = "hiformer.dlq.reason";
  public static final String REASON_CODE_HEADER = "hiformer.dlq.reason_code";
  public static final String SOURCE_HEADER = "hiformer.dlq.source";

  private static final System.Logger LOG = System.getLogger(FeatureIngestor.class.getName());
  private static final Duration POLL = Duration.ofMillis(100);
  private static final Duration METADATA_TIMEOUT = Duration.ofSeconds(5);
  private static final Duration RETRY_BACKOFF = Duration.ofMillis(500);
  private static final int USER = 0;
  private static final int ITEM = 1;

  /**
   * Where and how to read.
   *
   * @param bootstrapServers the Kafka {@code bootstrap.servers}
   * @param topics the topic names (prefix)
   * @param clientId the Kafka client id of the consumer and the dead-letter producer
   * @param partitionRefresh how often partitions added to the topics (or topics created) are looked for
   */
  public record Settings(String bootstrapServers, TopicNames topics, String clientId, Duration partitionRefresh) {
    public Settings {
      Objects.requireNonNull(bootstrapServers, "bootstrapServers");
      Objects.requireNonNull(topics, "topics");
      Objects.requireNonNull(clientId, "clientId");
      if (partitionRefresh.isNegative() || partitionRefresh.isZero()) {
        throw new IllegalArgumentException("partitionRefresh must be positive, got " + partitionRefresh);
      }
    }

    /** Default client id {@code hiformer-features} and a partition refresh every 30 s. */
    public static Settings of(String bootstrapServers, TopicNames topics) {
      return new Settings(bootstrapServers, topics, "hiformer-features", Duration.ofSeconds(30));
    }
  }

  private final Settings settings;
  // Where the store's data ends, per partition; partitions not in it are read from the beginning.
  private final Map<TopicPartition, Long> resumeFrom;
  private final IngestMetrics metrics;
  private final KafkaConsumer<byte[], byte[]> consumer;
  private final DeadLetters deadLetters;
  private final Applier applier;
  private final CompletableFuture<Void> caughtUp = new CompletableFuture<>();
  private final Thread thread;
  private Set<TopicPartition> assigned = Set.of();
  // End offsets found at start; null until the first assignment, empty once reached.
  private Map<TopicPartition, Long> catchUpTargets;
  private boolean caughtUpQueued;
  private long nextRefreshNanos;
  private volatile boolean closing;

  private FeatureIngestor(Settings settings, OnlineStore store, MeterRegistry registry) {
    this.settings = settings;
    this.resumeFrom = store.positions();
    this.metrics = new IngestMetrics(registry);
    this.consumer = new KafkaConsumer<>(consumerConfig(settings.bootstrapServers(), settings.clientId()),
        new ByteArrayDeserializer(), new ByteArrayDeserializer());
    this.deadLetters = new DeadLetters(settings.bootstrapServers(), settings.clientId() + "-dlq",
        settings.topics().featuresDlq(), metrics);
    this.applier = new Applier(store, metrics, deadLetters, caughtUp);
    this.thread = new Thread(this::run, "hiformer-features-ingest");
    this.thread.setDaemon(true);
  }

  /** Starts ingesting into {@code store} on threads of its own; meters go to {@code registry}. */
  public static FeatureIngestor start(Settings settings, OnlineStore store, MeterRegistry registry) {
    FeatureIngestor ingestor = new FeatureIngestor(Objects.requireNonNull(settings, "settings"),
        Objects.requireNonNull(store, "store"), Objects.requireNonNull(registry, "registry"));
    ingestor.applier.start();
    ingestor.thread.start();
    return ingestor;
  }

  /** True once every partition was read and applied up to the end offset it had when ingestion started. */
  boolean caughtUp() {
    return metrics.caughtUp;
  }

  /** Waits up to {@code timeout} for {@link #caughtUp()}; returns it. */
  public boolean awaitCaughtUp(Duration timeout) throws InterruptedException {
    try {
      caughtUp.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
      return true;
    } catch (TimeoutException e) {
      return false;
    } catch (ExecutionException e) {
      throw new IllegalStateException(e.getCause());
    }
  }

  /** Completes once {@link #caughtUp()}: what a ranker waits for before reporting itself serving. */
  public CompletionStage<Void> whenCaughtUp() {
    return caughtUp.minimalCompletionStage();
  }

  /**
   * Stops consuming, applies what was polled, sends the dead-letter records still pending (up to
   * 10 s) and closes the clients.
   */
  @Override
  public void close() {
    closing = true;
    consumer.wakeup();
    try {
      thread.join(Duration.ofSeconds(30));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** The consumer settings, shared with the benchmark's bare consumer so both read alike. */
  static Map<String, Object> consumerConfig(String bootstrapServers, String clientId) {
    Map<String, Object> c = new HashMap<>();
    c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    c.put(ConsumerConfig.CLIENT_ID_CONFIG, clientId);
    // A full replica per ranker: partitions are assigned, never subscribed, so no group and no commits.
    c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    // Looking a topic up must not create it with the broker's defaults (it must be compacted).
    c.put(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, false);
    c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    // Catch-up throughput: large fetches and polls; fetch.min.bytes stays 1 so tailing is prompt.
    c.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 500);
    c.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 8 << 20);
    c.put(ConsumerConfig.FETCH_MAX_BYTES_CONFIG, 64 << 20);
    c.put(ConsumerConfig.RECEIVE_BUFFER_CONFIG, 1 << 20);
    return c;
  }

  private void run() {
    try {
      while (!closing) {
        try {
          step();
        } catch (WakeupException e) {
          // close() woke the consumer up; the loop condition ends it.
        } catch (KafkaException | IllegalStateException e) {
          metrics.pollFailed();
          LOG.log(Level.WARNING, "feature ingestion: " + e + "; retrying in " + RETRY_BACKOFF.toMillis() + " ms");
          sleep(RETRY_BACKOFF);
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      try {
        consumer.close(Duration.ofSeconds(5));
        applier.finish();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } finally {
        deadLetters.close();
      }
    }
  }

  private void step() throws InterruptedException {
    if (System.nanoTime() - nextRefreshNanos >= 0 || catchUpTargets == null) {
      refreshAssignment();
    }
    if (assigned.isEmpty()) {
      sleep(POLL); // no topic exists yet: nothing to poll until the next refresh
    } else {
      ConsumerRecords<byte[], byte[]> records = consumer.poll(POLL);
      if (!records.isEmpty()) {
        applier.submit(parse(records));
      }
    }
    updateLag();
    if (!caughtUpQueued) {
      catchUpTargets.entrySet().removeIf(e -> positionOrMinus1(e.getKey()) >= e.getValue());
      if (catchUpTargets.isEmpty()) {
        applier.caughtUpHere();
        caughtUpQueued = true;
      }
    }
  }

  /** Parses a poll's records; the ones that cannot be applied go to the dead-letter topic now. */
  private Applier.Batch parse(ConsumerRecords<byte[], byte[]> records) {
    Applier.Batch batch = new Applier.Batch(records.count());
    for (TopicPartition tp : records.partitions()) {
      int kind = tp.topic().equals(settings.topics().featuresUser()) ? USER : ITEM;
      List<ConsumerRecord<byte[], byte[]>> polled = records.records(tp);
      batch.positions.put(tp, polled.getLast().offset() + 1);
      for (ConsumerRecord<byte[], byte[]> r : polled) {
        FeatureUpdate u = null;
        Rejection problem = null;
        try {
          if (r.value() != null) {
            u = FeatureUpdate.parseFrom(r.value());
            problem = check(kind, r, u);
          } else if (r.key() == null) {
            problem = new Rejection(Reason.KEY_MISMATCH, "a tombstone (null value) without a key");
          }
        } catch (InvalidProtocolBufferException e) {
          problem = new Rejection(Reason.UNPARSABLE, "not a FeatureUpdate: " + e.getMessage());
        }
        if (problem == null) {
          batch.add(kind, r, u);
        } else {
          deadLetters.reject(kind, r, problem);
          batch.rejected = true;
        }
      }
    }
    return batch;
  }

  /** What the store cannot check: the topic's kind and the record key. */
  private static Rejection check(int kind, ConsumerRecord<byte[], byte[]> r, FeatureUpdate u) {
    EntityKind expected = Applier.KINDS[kind];
    if (u.getEntityKind() != expected) {
      return new Rejection(Reason.WRONG_ENTITY_KIND, "entity_kind " + u.getEntityKind() + " on topic " + r.topic()
          + ", which holds " + expected);
    }
    byte[] key = r.key();
    if (key == null) {
      return new Rejection(Reason.KEY_MISMATCH, "the record has no key");
    }
    if (!sameText(key, u.getEntityId())) {
      return new Rejection(Reason.KEY_MISMATCH, "key '" + new String(key, StandardCharsets.UTF_8)
          + "' differs from entity_id '" + u.getEntityId() + "'");
    }
    return null;
  }

  /** Assigns every partition of both topics; new ones are read from the store's position, else the beginning. */
  private void refreshAssignment() {
    Set<TopicPartition> all = new HashSet<>();
    for (String topic : List.of(settings.topics().featuresUser(), settings.topics().featuresItem())) {
      List<PartitionInfo> infos = consumer.partitionsFor(topic, METADATA_TIMEOUT);
      if (infos == null || infos.isEmpty()) {
        if (catchUpTargets == null) {
          LOG.log(Level.WARNING, "feature topic " + topic + " does not exist; read as empty, looked for again every "
              + settings.partitionRefresh().toMillis() + " ms");
        }
        continue;
      }
      infos.forEach(p -> all.add(new TopicPartition(p.topic(), p.partition())));
    }
    if (!all.equals(assigned)) {
      List<TopicPartition> added = new ArrayList<>(all);
      added.removeAll(assigned);
      consumer.assign(all);
      List<TopicPartition> fromStart = new ArrayList<>();
      for (TopicPartition tp : added) {
        Long position = resumeFrom.get(tp);
        if (position == null) {
          fromStart.add(tp);
        } else {
          consumer.seek(tp, position); // beyond the log's range (a topic recreated), auto.offset.reset starts over
        }
      }
      if (!fromStart.isEmpty()) {
        consumer.seekToBeginning(fromStart); // an empty list would mean every assigned partition
      }
      assigned = Set.copyOf(all);
    }
    if (catchUpTargets == null) {
      catchUpTargets = new HashMap<>(consumer.endOffsets(all, METADATA_TIMEOUT));
    }
    nextRefreshNanos = System.nanoTime() + settings.partitionRefresh().toNanos();
  }

  private long positionOrMinus1(TopicPartition tp) {
    try {
      return consumer.position(tp, Duration.ZERO);
    } catch (org.apache.kafka.common.errors.TimeoutException e) {
      return -1;
    }
  }

  private void updateLag() {
    long users = 0;
    long items = 0;
    for (TopicPartition tp : assigned) {
      OptionalLong lag = consumer.currentLag(tp);
      if (lag.isPresent()) {
        if (tp.topic().equals(settings.topics().featuresUser())) {
          users += lag.getAsLong();
        } else {
          items += lag.getAsLong();
        }
      }
    }
    metrics.lag(users, items);
  }

  /** Whether UTF-8 {@code bytes} spell {@code text}; allocation-free for ASCII. */
  static boolean sameText(byte[] bytes, String text) {
    int n = text.length();
    if (bytes.length == n) {
      // Equal lengths: equal only if the text is ASCII and matches byte for byte.
      for (int i = 0; i < n; i++) {
        char c = text.charAt(i);
        if (c >= 0x80 || bytes[i] != c) {
          return false;
        }
      }
      return true;
    }
    return bytes.length > n && new String(bytes, StandardCharsets.UTF_8).equals(text);
  }

  private static void sleep(Duration d) {
    try {
      Thread.sleep(d);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
