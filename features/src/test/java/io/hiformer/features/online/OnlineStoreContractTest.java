package io.hiformer.features.online;

import static io.hiformer.features.online.Updates.ITEM;
import static io.hiformer.features.online.Updates.USER;
import static io.hiformer.features.online.Updates.bag;
import static io.hiformer.features.online.Updates.cat;
import static io.hiformer.features.online.Updates.delete;
import static io.hiformer.features.online.Updates.dense;
import static io.hiformer.features.online.Updates.id;
import static io.hiformer.features.online.Updates.update;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hiformer.features.kafka.TopicNames;
import io.hiformer.features.online.Rejection.Reason;
import io.hiformer.features.online.StoreChoice.Kind;
import io.hiformer.localkafka.KafkaBroker;
import io.hiformer.proto.EntityKind;
import io.hiformer.proto.FeatureUpdate;
import io.hiformer.proto.FeatureValue;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * What every {@link OnlineStore} does alike, run against each kind: validation, last-writer-wins,
 * lookups, and ingestion from a real broker (dead letters, restarts). A store shows what it applied
 * once committed (the in-memory one at once).
 */
class OnlineStoreContractTest {
  private static final AtomicInteger PREFIXES = new AtomicInteger();
  private static KafkaBroker kafka;

  @TempDir
  Path dir;
  private final List<OnlineStore> opened = new ArrayList<>();

  @BeforeAll
  static void startBroker() {
    kafka = KafkaBroker.forTests();
  }

  @AfterAll
  static void stopBroker() {
    kafka.close();
  }

  @AfterEach
  void closeStores() {
    opened.forEach(OnlineStore::close);
  }

  private OnlineStore open(Kind kind) {
    return open(kind, "store");
  }

  /** A store of {@code kind}; for the disk store, in {@code name} under the test's directory (reopened if it exists). */
  private OnlineStore open(Kind kind, String name) {
    OnlineStore s = new StoreChoice(kind, dir.resolve(name), 8 << 20, 1000).open(Updates.storeSchema());
    opened.add(s);
    return s;
  }

  private static void applied(OnlineStore store, FeatureUpdate u) {
    assertThat(store.apply(u)).isNull();
    store.commit(Map.of());
  }

  @ParameterizedTest
  @EnumSource(Kind.class)
  void theNewestEventTimeWinsPerField(Kind kind) {
    OnlineStore store = open(kind);
    assertThat(store.apply(update(USER, "u1", 100, "country", cat("de"), "age", dense(31)))).isNull();
    assertThat(store.apply(update(USER, "u1", 50, "country", cat("fr"), "recent", bag("i1", "i2")))).isNull();
    assertThat(store.apply(update(USER, "u1", 200, "age", dense(32)))).isNull();
    store.commit(Map.of());

    StoredEntity u1 = store.user("u1");
    assertThat(u1.feature("country")).isEqualTo(cat("de")); // 50 is older than 100
    assertThat(u1.feature("recent")).isEqualTo(bag("i1", "i2")); // never set before: taken
    assertThat(u1.feature("age")).isEqualTo(dense(32));
    assertThat(u1.eventTimeMs("country")).isEqualTo(100);
    assertThat(u1.eventTimeMs("age")).isEqualTo(200);
    assertThat(u1.feature("hour")).as("context columns are not stored").isNull();
    // As a raw record: text as is, numbers as text, bags as lists, missing as null.
    assertThat(u1.value("country")).isEqualTo("de");
    assertThat(u1.value("age")).isEqualTo("32.0");
    assertThat(u1.bag("recent", "|")).containsExactly("i1", "i2");
    assertThat(u1.value("recent")).as("a bag read as text").isEmpty();
    assertThat(u1.value("hour")).isNull();
    assertThat(store.user("u2")).isNull();
    assertThat(store.item("u1")).as("users and items are apart").isNull();
  }

  @ParameterizedTest
  @EnumSource(Kind.class)
  void onEqualTimesTheLaterDeliveryWins(Kind kind) {
    OnlineStore store = open(kind);
    applied(store, update(ITEM, "i1", 100, "category", cat("games")));
    applied(store, update(ITEM, "i1", 100, "category", cat("music")));
    assertThat(store.item("i1").feature("category")).isEqualTo(cat("music"));
  }

  @ParameterizedTest
  @EnumSource(Kind.class)
  void deletesAreVersionedLikeValues(Kind kind) {
    OnlineStore store = open(kind);
    applied(store, update(USER, "u1", 100, "country", cat("de"), "age", dense(40)));
    applied(store, delete(USER, "u1", 90, "country")); // older: ignored
    applied(store, delete(USER, "u1", 110, "age"));
    applied(store, update(USER, "u1", 105, "age", dense(41))); // older than the delete
    applied(store, update(USER, "u1", 120, "recent", FeatureValue.getDefaultInstance())); // empty value: missing

    StoredEntity u1 = store.user("u1");
    assertThat(u1.feature("country")).isEqualTo(cat("de"));
    assertThat(u1.feature("age")).isNull();
    assertThat(u1.eventTimeMs("age")).isEqualTo(110);
    assertThat(u1.feature("recent")).isNull();
    assertThat(u1.eventTimeMs("recent")).isEqualTo(120);
  }

  @ParameterizedTest
  @EnumSource(Kind.class)
  void replaysAndEveryDeliveryOrderConvergeToTheSameState(Kind kind) {
    OnlineStore store = open(kind);
    Random random = new Random(7);
    String[] columns = {"country", "age", "recent"};
    List<Long> times = new ArrayList<>();
    for (long t = 1; t <= 300; t++) {
      times.add(t);
    }
    Collections.shuffle(times, random); // distinct times: with ties, the delivery order would decide
    List<FeatureUpdate> updates = new ArrayList<>();
    for (int i = 0; i < 300; i++) {
      String user = "u" + random.nextInt(5);
      long time = times.get(i);
      String column = columns[random.nextInt(3)];
      FeatureValue v = switch (column) {
        case "country" -> cat("c" + i);
        case "age" -> dense(i);
        default -> bag("i" + i);
      };
      updates.add(random.nextInt(10) == 0 ? delete(USER, user, time, column) : update(USER, user, time, column, v));
    }
    String expected = null;
    for (int round = 0; round < 20; round++) {
      List<FeatureUpdate> order = new ArrayList<>(updates);
      Collections.shuffle(order, random);
      if (round % 2 == 1) {
        order.addAll(updates.subList(0, 100)); // a partial replay after everything
      }
      String state;
      try (OnlineStore s = open(kind, "round" + round)) {
        order.forEach(u -> assertThat(s.apply(u)).isNull());
        s.commit(Map.of()); // one batch: later updates of an entity merge with its staged state
        state = dump(s, columns, updates);
      }
      if (expected == null) {
        expected = state;
      }
      assertThat(state).as("round %d", round).isEqualTo(expected);
    }
    assertThat(expected).isEqualTo(dump(newestPerField(updates), columns, updates));
  }

  @ParameterizedTest
  @EnumSource(Kind.class)
  void malformedUpdatesAreRejectedWholeWithAReason(Kind kind) {
    OnlineStore store = open(kind);
    applied(store, update(USER, "u1", 100, "country", cat("de")));
    assertRejected(store, update(USER, "u1", 200, "country", cat("fr"), "countyr", cat("x")), Reason.UNKNOWN_FIELD,
        "unknown field 'countyr' for a user");
    assertRejected(store, update(USER, "u1", 200, "country", cat("fr"), "age", cat("old")), Reason.WRONG_TYPE,
        "field 'age' of a user takes dense values, got categorical");
    assertRejected(store, update(USER, "u1", 200, "recent", cat("i1")), Reason.WRONG_TYPE,
        "field 'recent' of a user takes bag values");
    assertRejected(store, update(USER, "u1", 200, "country", dense(3)), Reason.WRONG_TYPE, "takes categorical or id values");
    assertRejected(store, update(USER, "u1", 200, "age", dense(Double.NaN)), Reason.NOT_FINITE, "field 'age' of a user is NaN");
    assertRejected(store, update(ITEM, "i1", 200, "price", dense(Double.POSITIVE_INFINITY)), Reason.NOT_FINITE, "Infinity");
    // Finite as a double, infinite as the float the model uses: refused the same way.
    assertRejected(store, update(ITEM, "i1", 200, "price", dense(1e39)), Reason.NOT_FINITE,
        "field 'price' of an item is 1.0E39, beyond the float range");
    assertRejected(store, update(ITEM, "i1", 200, "price", dense(-1e39)), Reason.NOT_FINITE, "-1.0E39");
    assertRejected(store, update(ITEM, "i1", 200, "country", cat("de")), Reason.UNKNOWN_FIELD, "for an item");
    assertRejected(store, update(USER, "u1", 200, "hour", cat("9")), Reason.UNKNOWN_FIELD, "'hour'");
    assertRejected(store, update(USER, "", 200, "country", cat("fr")), Reason.MISSING_ENTITY_ID, "entity_id is empty");
    assertRejected(store, update(USER, "u1", 0, "country", cat("fr")), Reason.BAD_EVENT_TIME, "event_time_ms is 0");
    assertRejected(store, update(EntityKind.ENTITY_KIND_UNSPECIFIED, "u1", 200, "country", cat("fr")),
        Reason.WRONG_ENTITY_KIND, "entity_kind is 0");
    assertRejected(store, update(USER, "u1", 200, "country", cat("fr")).toBuilder().addDeletes("country").build(),
        Reason.CONFLICTING_DELETE, "'country' is both set and deleted");
    assertRejected(store, delete(USER, "u1", 200, "nope"), Reason.UNKNOWN_FIELD, "'nope'");

    assertThat(store.user("u1").feature("country")).isEqualTo(cat("de"));
    assertThat(store.user("u1").eventTimeMs("country")).isEqualTo(100);
    assertThat(store.item("i1")).isNull();
    assertThat(store.apply(update(USER, "u2", 1, "country", id(49)))).as("ids are categorical values").isNull();
  }

  @ParameterizedTest
  @EnumSource(Kind.class)
  void itemsAreLookedUpTogetherAndRemovedEntitiesAreGone(Kind kind) {
    OnlineStore store = open(kind);
    for (int i = 0; i < 300; i++) {
      assertThat(store.apply(update(ITEM, "i" + i, 1, "category", cat("c" + i), "price", dense(i + 0.1)))).isNull();
    }
    store.apply(update(USER, "u1", 1, "country", cat("de"), "recent", bag("a", "b")));
    store.remove(ITEM, "i7");
    store.remove(ITEM, "never there");
    store.commit(Map.of());

    List<String> ids = new ArrayList<>(List.of("i5", "nope", "i7", "i299", "u1"));
    StoredEntity[] out = new StoredEntity[8];
    store.items(ids, 4, out);
    assertThat(out[0].feature("category")).isEqualTo(cat("c5"));
    assertThat(out[0].number("price")).as("a double that is no float, exact").isEqualTo(5.1);
    assertThat(out[1]).isNull();
    assertThat(out[2]).as("removed").isNull();
    assertThat(out[3].feature("price")).isEqualTo(dense(299.1));
    assertThat(out[4]).as("beyond count: untouched").isNull();
    assertThat(store.user("u1").bag("recent", "|")).containsExactly("a", "b");
    assertThat(store.size(ITEM)).isEqualTo(299);
    assertThat(store.size(USER)).isEqualTo(1);
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    store.bindTo(registry);
    assertThat(registry.get("hiformer.features.entities").tag("kind", "item").gauge().value()).isEqualTo(299);
  }

  @ParameterizedTest
  @EnumSource(Kind.class)
  void poisonRecordsAreDeadLetteredAndTheRestIngested(Kind kind) throws Exception {
    TopicNames topics = new TopicNames("c" + PREFIXES.incrementAndGet() + ".");
    Kafkas.createTopics(kafka, topics, 1);
    try (var producer = Kafkas.rawProducer(kafka)) {
      String topic = topics.featuresUser();
      producer.send(new ProducerRecord<>(topic, bytes("u0"), update(USER, "u0", 1, "country", cat("ok")).toByteArray())).get();
      producer.send(new ProducerRecord<>(topic, bytes("u1"), new byte[] {(byte) 0xff, 0x01, 0x02})).get();
      producer.send(new ProducerRecord<>(topic, bytes("u2"), update(USER, "u2", 1, "countyr", cat("de")).toByteArray())).get();
      producer.send(new ProducerRecord<>(topic, bytes("u4"), update(USER, "u4", 1, "age", dense(1e39)).toByteArray())).get();
      producer.send(new ProducerRecord<>(topic, bytes("u9"), update(USER, "u9", 1, "country", cat("ok")).toByteArray())).get();
    }
    OnlineStore store = open(kind);
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    try (FeatureIngestor ingestor = FeatureIngestor.start(FeatureIngestor.Settings.of(kafka.bootstrapServers(), topics),
        store, registry)) {
      assertThat(ingestor.awaitCaughtUp(Duration.ofSeconds(30))).isTrue();
    }
    assertThat(store.user("u0").feature("country")).isEqualTo(cat("ok"));
    assertThat(store.user("u9").feature("country")).isEqualTo(cat("ok"));
    assertThat(store.size(USER)).isEqualTo(2);
    Map<String, String> reasons = new HashMap<>();
    for (ConsumerRecord<byte[], byte[]> r : Kafkas.readAll(kafka, topics.featuresDlq(), 3)) {
      reasons.put(header(r, FeatureIngestor.SOURCE_HEADER), header(r, FeatureIngestor.REASON_CODE_HEADER));
    }
    String t = topics.featuresUser() + "/0@";
    assertThat(reasons).isEqualTo(Map.of(t + 1, "unparsable", t + 2, "unknown_field", t + 3, "not_finite"));
  }

  /**
   * A restarted ranker's store holds the same rows; the disk store resumes from the positions it
   * committed (reading only what came since), the in-memory one reads everything again.
   */
  @ParameterizedTest
  @EnumSource(Kind.class)
  void aRestartServesTheSameRowsAndTheDiskStoreResumesFromItsPositions(Kind kind) throws Exception {
    TopicNames topics = new TopicNames("r" + PREFIXES.incrementAndGet() + ".");
    Kafkas.createTopics(kafka, topics, 2);
    try (FeaturePublisher publisher = new FeaturePublisher(kafka.bootstrapServers(), topics)) {
      for (int i = 0; i < 1000; i++) {
        publisher.send(update(USER, "u" + i % 300, i + 1, "country", cat("v" + i), "age", dense(i)));
      }
      for (int i = 0; i < 50; i++) {
        publisher.send(update(ITEM, "i" + i, 1, "category", cat("c" + i)));
      }
      publisher.flush();
    }
    Map<String, FeatureValue> before = new HashMap<>();
    OnlineStore first = open(kind);
    try (FeatureIngestor ingestor = FeatureIngestor.start(FeatureIngestor.Settings.of(kafka.bootstrapServers(), topics),
        first, new SimpleMeterRegistry())) {
      assertThat(ingestor.awaitCaughtUp(Duration.ofSeconds(30))).isTrue();
    }
    for (int u = 0; u < 300; u++) {
      before.put("u" + u, first.user("u" + u).feature("country"));
    }
    first.close();

    try (FeaturePublisher publisher = new FeaturePublisher(kafka.bootstrapServers(), topics)) {
      publisher.send(update(USER, "u1", 5000, "country", cat("while down")));
      publisher.send(update(USER, "new", 5000, "country", cat("while down")));
      publisher.flush();
    }
    before.put("u1", cat("while down"));
    before.put("new", cat("while down"));

    OnlineStore second = open(kind);
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    try (FeatureIngestor ingestor = FeatureIngestor.start(FeatureIngestor.Settings.of(kafka.bootstrapServers(), topics),
        second, registry)) {
      assertThat(ingestor.awaitCaughtUp(Duration.ofSeconds(30))).isTrue();
    }
    before.forEach((u, v) -> assertThat(second.user(u).feature("country")).as(u).isEqualTo(v));
    assertThat(second.item("i49").feature("category")).isEqualTo(cat("c49"));
    assertThat(second.size(USER)).isEqualTo(301);
    double read = registry.get("hiformer.features.updates").tag("kind", "user").counter().count();
    assertThat(read).as("user records applied after the restart").isEqualTo(kind == Kind.ROCKSDB ? 2 : 1002);
  }

  @Test
  void theDiskStoreKeepsItsRowsOverAReopenAndStartsOverForOtherFields() {
    OnlineStore store = open(Kind.ROCKSDB);
    store.apply(update(USER, "u1", 7, "country", cat("de"), "age", dense(0.25), "recent", bag("x", "é")));
    store.apply(update(ITEM, "i1", 8, "category", id(-42), "price", dense(1e30)));
    store.apply(update(ITEM, "i2", 8, "category", cat("never committed")));
    TopicPartition tp = new TopicPartition("t", 3);
    store.commit(Map.of(tp, 17L));
    store.remove(ITEM, "i1");
    store.apply(update(ITEM, "i2", 9, "category", cat("staged, dropped at close")));
    store.close();

    OnlineStore again = open(Kind.ROCKSDB);
    assertThat(again.positions()).isEqualTo(Map.of(tp, 17L));
    StoredEntity u1 = again.user("u1");
    assertThat(u1.feature("country")).isEqualTo(cat("de"));
    assertThat(u1.eventTimeMs("country")).isEqualTo(7);
    assertThat(u1.feature("age")).isEqualTo(dense(0.25));
    assertThat(u1.feature("recent")).isEqualTo(bag("x", "é"));
    assertThat(u1.eventTimeMs("recent")).isEqualTo(7);
    assertThat(u1.feature("hour")).isNull();
    assertThat(again.item("i1").feature("category")).isEqualTo(id(-42));
    assertThat(again.item("i1").feature("price")).isEqualTo(dense(1e30));
    assertThat(again.item("i2").feature("category")).isEqualTo(cat("never committed"));
    assertThat(again.size(ITEM)).isEqualTo(2);
    again.close();

    StoreSchema other = StoreSchema.of(io.hiformer.features.FeatureSchema.parse("""
        tasks: [{name: click}]
        fields:
          - {name: user_id, kind: categorical, side: user}
          - {name: item_id, kind: categorical, side: item}
          - {name: country, kind: dense, side: user}
        """).fields());
    try (OnlineStore changed = RocksDbFeatureStore.open(dir.resolve("store"), other, 1 << 20)) {
      assertThat(changed.user("u1")).as("values of other slots are dropped").isNull();
      assertThat(changed.positions()).as("so the topics are read again").isEmpty();
      assertThat(changed.size(USER)).isZero();
    }
  }

  @Test
  void aDirectoryInUseOrNotCreatableIsNamedInOneLine() throws Exception {
    open(Kind.ROCKSDB);
    StoreChoice same = new StoreChoice(Kind.ROCKSDB, dir.resolve("store"), 1 << 20, 1);
    assertThatThrownBy(same::check).isInstanceOf(IllegalArgumentException.class)
        .hasMessage("feature store directory " + dir.resolve("store")
            + " is in use by another process or store (its LOCK file is held)");
    Path file = Files.writeString(dir.resolve("a-file"), "x");
    StoreChoice under = new StoreChoice(Kind.ROCKSDB, file.resolve("db"), 1 << 20, 1);
    assertThatThrownBy(under::check).isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("feature store directory " + file.resolve("db") + " cannot be created (")
        .hasMessageNotContaining("\n");
    assertThatThrownBy(() -> new StoreChoice(Kind.ROCKSDB, null, 1, 1)).hasMessage(
        "--feature-store rocksdb needs --feature-store-dir DIR");
    assertThatThrownBy(() -> Kind.parse("redis")).hasMessage("--feature-store must be memory or rocksdb, got 'redis'");
  }

  @ParameterizedTest
  @EnumSource(Kind.class)
  void readsAfterCloseFindNothing(Kind kind) {
    OnlineStore store = open(kind);
    applied(store, update(USER, "u1", 1, "country", cat("de")));
    store.close();
    if (kind == Kind.ROCKSDB) {
      assertThat(store.user("u1")).isNull();
      StoredEntity[] out = {store.user("u1")};
      store.items(List.of("i1"), 1, out);
      assertThat(out[0]).isNull();
      assertThatThrownBy(() -> store.apply(update(USER, "u2", 1, "country", cat("de"))))
          .isInstanceOf(IllegalStateException.class).hasMessageEndingWith(" is closed");
    }
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static String header(ConsumerRecord<byte[], byte[]> r, String name) {
    var h = r.headers().lastHeader(name);
    return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
  }

  private static void assertRejected(OnlineStore store, FeatureUpdate u, Reason reason, String message) {
    Rejection r = store.apply(u);
    assertThat(r).isNotNull();
    assertThat(r.reason()).isEqualTo(reason);
    assertThat(r.message()).contains(message);
  }

  /** The state the rule defines, computed without the store: per user and column the newest event, last on ties. */
  private static FeatureStore newestPerField(List<FeatureUpdate> updates) {
    FeatureStore s = new FeatureStore(Updates.storeSchema(), 1000);
    List<FeatureUpdate> sorted = new ArrayList<>(updates);
    sorted.sort((a, b) -> Long.compare(a.getEventTimeMs(), b.getEventTimeMs())); // stable: ties keep delivery order
    sorted.forEach(s::apply);
    return s;
  }

  private static String dump(OnlineStore s, String[] columns, List<FeatureUpdate> updates) {
    StringBuilder sb = new StringBuilder();
    updates.stream().map(FeatureUpdate::getEntityId).distinct().sorted().forEach(u -> {
      StoredEntity e = s.user(u);
      for (String c : columns) {
        sb.append(u).append('.').append(c).append('=').append(e.feature(c)).append('@').append(e.eventTimeMs(c)).append('\n');
      }
    });
    return sb.toString();
  }
}
