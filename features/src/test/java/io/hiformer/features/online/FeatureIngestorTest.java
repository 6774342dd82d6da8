package io.hiformer.features.online;

import io.hiformer.features.kafka.TopicNames;
import static io.hiformer.features.online.Updates.ITEM;
import static io.hiformer.features.online.Updates.USER;
import static io.hiformer.features.online.Updates.cat;
import static io.hiformer.features.online.Updates.dense;
import static io.hiformer.features.online.Updates.update;
import static org.assertj.core.api.Assertions.assertThat;

import io.hiformer.localkafka.KafkaBroker;
import io.hiformer.proto.FeatureUpdate;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The ingestor against a real broker; each test has topics of its own under a fresh prefix. */
class FeatureIngestorTest {
  private static final AtomicInteger PREFIXES = new AtomicInteger();
  private static KafkaBroker kafka;

  private final TopicNames topics = new TopicNames("t" + PREFIXES.incrementAndGet() + ".");
  private final FeatureStore store = new FeatureStore(Updates.storeSchema(), 10_000);
  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  private FeatureIngestor ingestor;

  @BeforeAll
  static void startBroker() {
    kafka = KafkaBroker.forTests();
  }

  @AfterAll
  static void stopBroker() {
    kafka.close();
  }

  @AfterEach
  void stopIngestor() {
    if (ingestor != null) {
      ingestor.close();
    }
  }

  private void startIngestor(Duration partitionRefresh) {
    ingestor = FeatureIngestor.start(
        new FeatureIngestor.Settings(kafka.bootstrapServers(), topics, "test", partitionRefresh), store, registry);
  }

  @Test
  void catchesUpFromTheBeginningThenMakesNewUpdatesVisibleWithinASecond() throws Exception {
    Kafkas.createTopics(kafka, topics, 2);
    Map<String, String> expected = new HashMap<>();
    try (FeaturePublisher publisher = new FeaturePublisher(kafka.bootstrapServers(), topics)) {
      for (int version = 1; version <= 4; version++) {
        for (int u = 0; u < 500; u++) {
          publisher.send(update(USER, "u" + u, version, "country", cat("c" + u + "v" + version)));
          expected.put("u" + u, "c" + u + "v" + version);
        }
      }
      for (int i = 0; i < 100; i++) {
        publisher.send(update(ITEM, "i" + i, 1, "price", dense(i)));
      }
      publisher.flush();

      startIngestor(Duration.ofSeconds(30));
      assertThat(ingestor.awaitCaughtUp(Duration.ofSeconds(30))).isTrue();
      // Caught up means every record that existed at start is applied.
      assertThat(store.size(USER)).isEqualTo(500);
      expected.forEach((u, c) -> assertThat(store.user(u).feature("country")).isEqualTo(cat(c)));
      assertThat(store.item("i99").feature("price")).isEqualTo(dense(99));
      assertThat(registry.get("hiformer.features.caught.up").gauge().value()).isEqualTo(1);

      publisher.send(update(USER, "u7", System.currentTimeMillis(), "country", cat("fresh")));
      publisher.flush();
      long ms = Kafkas.waitFor(Duration.ofSeconds(1),
          () -> cat("fresh").equals(store.user("u7").feature("country")));
      assertThat(ms).as("milliseconds from written to visible").isBetween(0L, 1000L);
    }
    assertThat(registry.get("hiformer.features.updates").tag("kind", "user").counter().count()).isEqualTo(2001);
    assertThat(registry.get("hiformer.features.updates").tag("kind", "item").counter().count()).isEqualTo(100);
    assertThat(registry.get("hiformer.features.freshness").tag("kind", "user").timer().count()).isEqualTo(2001);
    assertThat(Kafkas.waitFor(Duration.ofSeconds(5),
        () -> registry.get("hiformer.features.lag").tag("kind", "user").gauge().value() == 0)).isNotNegative();
  }

  @Test
  void poisonRecordsGoToTheDeadLetterTopicWithTheirReasonAndIngestionGoesOn() throws Exception {
    Kafkas.createTopics(kafka, topics, 1);
    byte[] unknownField = update(USER, "u2", 1, "countyr", cat("de")).toByteArray();
    byte[] wrongType = update(USER, "u3", 1, "age", cat("old")).toByteArray();
    byte[] nan = update(USER, "u4", 1, "age", dense(Double.NaN)).toByteArray();
    byte[] item = update(ITEM, "u5", 1, "price", dense(1)).toByteArray();
    byte[] keyed = update(USER, "u6", 1, "country", cat("de")).toByteArray();
    try (var producer = Kafkas.rawProducer(kafka)) {
      String topic = topics.featuresUser();
      // A compacted topic refuses records without a key, so that case cannot reach the ingestor.
      producer.send(new ProducerRecord<>(topic, bytes("u0"), update(USER, "u0", 1, "country", cat("ok")).toByteArray())).get();
      producer.send(new ProducerRecord<>(topic, bytes("u1"), new byte[] {(byte) 0xff, 0x01, 0x02})).get();
      producer.send(new ProducerRecord<>(topic, bytes("u2"), unknownField)).get();
      producer.send(new ProducerRecord<>(topic, bytes("u3"), wrongType)).get();
      producer.send(new ProducerRecord<>(topic, bytes("u4"), nan)).get();
      producer.send(new ProducerRecord<>(topic, bytes("u5"), item)).get();
      producer.send(new ProducerRecord<>(topic, bytes("someone-else"), keyed)).get();
      producer.send(new ProducerRecord<>(topic, bytes("u9"), update(USER, "u9", 1, "country", cat("ok")).toByteArray())).get();
    }
    startIngestor(Duration.ofSeconds(30));
    assertThat(ingestor.awaitCaughtUp(Duration.ofSeconds(30))).isTrue();
    assertThat(store.user("u0").feature("country")).isEqualTo(cat("ok"));
    assertThat(store.user("u9").feature("country")).isEqualTo(cat("ok"));
    assertThat(store.size(USER)).isEqualTo(2);

    // Parsing and applying run on two threads, so the dead letters come in no fixed order: key them by source offset.
    Map<String, ConsumerRecord<byte[], byte[]>> dlq = new HashMap<>();
    Kafkas.readAll(kafka, topics.featuresDlq(), 6).forEach(r -> dlq.put(header(r, FeatureIngestor.SOURCE_HEADER), r));
    String t = topics.featuresUser() + "/0@";
    assertThat(dlq).hasSize(6).containsOnlyKeys(t + 1, t + 2, t + 3, t + 4, t + 5, t + 6);
    assertThat(reason(dlq.get(t + 1))).startsWith("unparsable: not a FeatureUpdate");
    assertThat(reason(dlq.get(t + 2))).isEqualTo("unknown_field: unknown field 'countyr' for a user; stored fields: "
        + "[user_id, country, age, recent]");
    assertThat(reason(dlq.get(t + 3))).isEqualTo("wrong_type: field 'age' of a user takes dense values, got categorical");
    assertThat(reason(dlq.get(t + 4))).isEqualTo("not_finite: field 'age' of a user is NaN, not a finite number; dense values must be finite floats");
    assertThat(reason(dlq.get(t + 5))).isEqualTo("wrong_entity_kind: entity_kind ENTITY_KIND_ITEM on topic "
        + topics.featuresUser() + ", which holds ENTITY_KIND_USER");
    assertThat(reason(dlq.get(t + 6))).isEqualTo("key_mismatch: key 'someone-else' differs from entity_id 'u6'");
    assertThat(header(dlq.get(t + 2), FeatureIngestor.REASON_CODE_HEADER)).isEqualTo("unknown_field");
    assertThat(dlq.get(t + 3).value()).as("the original value is kept").isEqualTo(wrongType);
    assertThat(dlq.get(t + 3).key()).isEqualTo(bytes("u3"));
    assertThat(registry.get("hiformer.features.dlq").tag("kind", "user").tag("reason", "key_mismatch").counter()
        .count()).isEqualTo(1);
    assertThat(registry.get("hiformer.features.dlq").tag("kind", "user").tag("reason", "not_finite").counter()
        .count()).isEqualTo(1);
    assertThat(registry.get("hiformer.features.dlq.failures").counter().count()).isZero();
  }

  @Test
  void outOfOrderUpdatesConvergeAndTombstonesRemove() throws Exception {
    Kafkas.createTopics(kafka, topics, 2);
    startIngestor(Duration.ofSeconds(30));
    assertThat(ingestor.awaitCaughtUp(Duration.ofSeconds(30))).isTrue();
    try (FeaturePublisher publisher = new FeaturePublisher(kafka.bootstrapServers(), topics);
        var raw = Kafkas.rawProducer(kafka)) {
      publisher.send(update(ITEM, "i1", 300, "category", cat("newest")));
      publisher.send(update(ITEM, "i1", 100, "category", cat("oldest"), "price", dense(1)));
      publisher.send(update(ITEM, "i1", 200, "category", cat("middle"), "price", dense(2)));
      publisher.send(update(ITEM, "i2", 1, "category", cat("gone soon")));
      publisher.flush();
      raw.send(new ProducerRecord<>(topics.featuresItem(), bytes("i2"), null)).get();
      publisher.send(update(ITEM, "i3", 1, "category", cat("last")));
      publisher.flush();
    }
    assertThat(Kafkas.waitFor(Duration.ofSeconds(10), () -> store.item("i3") != null)).isNotNegative();
    assertThat(Kafkas.waitFor(Duration.ofSeconds(10), () -> store.item("i2") == null)).isNotNegative();
    assertThat(store.item("i1").feature("category")).isEqualTo(cat("newest"));
    assertThat(store.item("i1").feature("price")).isEqualTo(dense(2));
  }

  @Test
  void topicsCreatedAfterStartArePickedUpAtTheNextRefresh() throws Exception {
    startIngestor(Duration.ofMillis(200));
    assertThat(ingestor.awaitCaughtUp(Duration.ofSeconds(30))).as("no topics: nothing to catch up on").isTrue();
    Kafkas.createTopics(kafka, topics, 1);
    try (FeaturePublisher publisher = new FeaturePublisher(kafka.bootstrapServers(), topics)) {
      FeatureUpdate u = update(USER, "late", 1, "country", cat("here"));
      publisher.send(u);
      publisher.flush();
    }
    assertThat(Kafkas.waitFor(Duration.ofSeconds(10), () -> store.user("late") != null)).isNotNegative();
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static String reason(ConsumerRecord<byte[], byte[]> r) {
    return header(r, FeatureIngestor.REASON_HEADER);
  }

  private static String header(ConsumerRecord<byte[], byte[]> r, String name) {
    var h = r.headers().lastHeader(name);
    return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
  }
}
