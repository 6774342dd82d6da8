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

import io.hiformer.features.online.Rejection.Reason;
import io.hiformer.proto.EntityKind;
import io.hiformer.proto.FeatureUpdate;
import io.hiformer.proto.FeatureValue;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

class FeatureStoreTest {

  private final FeatureStore store = new FeatureStore(Updates.storeSchema(), 1000);

  @Test
  void theNewestEventTimeWinsPerField() {
    assertThat(store.apply(update(USER, "u1", 100, "country", cat("de"), "age", dense(31)))).isNull();
    assertThat(store.apply(update(USER, "u1", 50, "country", cat("fr"), "recent", bag("i1", "i2")))).isNull();
    assertThat(store.apply(update(USER, "u1", 200, "age", dense(32)))).isNull();

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

  @Test
  void onEqualTimesTheLaterDeliveryWins() {
    store.apply(update(ITEM, "i1", 100, "category", cat("games")));
    store.apply(update(ITEM, "i1", 100, "category", cat("music")));
    assertThat(store.item("i1").feature("category")).isEqualTo(cat("music"));
  }

  @Test
  void deletesAreVersionedLikeValues() {
    store.apply(update(USER, "u1", 100, "country", cat("de"), "age", dense(40)));
    store.apply(delete(USER, "u1", 90, "country")); // older: ignored
    store.apply(delete(USER, "u1", 110, "age"));
    store.apply(update(USER, "u1", 105, "age", dense(41))); // older than the delete
    store.apply(update(USER, "u1", 120, "recent", FeatureValue.getDefaultInstance())); // empty value: missing

    StoredEntity u1 = store.user("u1");
    assertThat(u1.feature("country")).isEqualTo(cat("de"));
    assertThat(u1.feature("age")).isNull();
    assertThat(u1.eventTimeMs("age")).isEqualTo(110);
    assertThat(u1.feature("recent")).isNull();
    assertThat(u1.eventTimeMs("recent")).isEqualTo(120);
  }

  @Test
  void replaysAndEveryDeliveryOrderConvergeToTheSameState() {
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
      FeatureStore s = new FeatureStore(Updates.storeSchema(), 1000);
      order.forEach(u -> assertThat(s.apply(u)).isNull());
      String state = dump(s, columns, updates);
      if (expected == null) {
        expected = state;
      }
      assertThat(state).as("round %d", round).isEqualTo(expected);
    }
    assertThat(expected).isEqualTo(dump(newestPerField(updates), columns, updates));
  }

  @Test
  void malformedUpdatesAreRejectedWholeWithAReason() {
    store.apply(update(USER, "u1", 100, "country", cat("de")));
    assertRejected(update(USER, "u1", 200, "country", cat("fr"), "countyr", cat("x")), Reason.UNKNOWN_FIELD,
        "unknown field 'countyr' for a user");
    assertRejected(update(USER, "u1", 200, "country", cat("fr"), "age", cat("old")), Reason.WRONG_TYPE,
        "field 'age' of a user takes dense values, got categorical");
    assertRejected(update(USER, "u1", 200, "recent", cat("i1")), Reason.WRONG_TYPE,
        "field 'recent' of a user takes bag values");
    assertRejected(update(USER, "u1", 200, "country", dense(3)), Reason.WRONG_TYPE, "takes categorical or id values");
    assertRejected(update(USER, "u1", 200, "age", dense(Double.NaN)), Reason.NOT_FINITE, "field 'age' of a user is NaN");
    assertRejected(update(ITEM, "i1", 200, "price", dense(Double.POSITIVE_INFINITY)), Reason.NOT_FINITE, "Infinity");
    // Finite as a double, infinite as the float the model uses: refused the same way.
    assertRejected(update(ITEM, "i1", 200, "price", dense(1e39)), Reason.NOT_FINITE,
        "field 'price' of an item is 1.0E39, beyond the float range");
    assertRejected(update(ITEM, "i1", 200, "price", dense(-1e39)), Reason.NOT_FINITE, "-1.0E39");
    assertRejected(update(ITEM, "i1", 200, "country", cat("de")), Reason.UNKNOWN_FIELD, "for an item");
    assertRejected(update(USER, "u1", 200, "hour", cat("9")), Reason.UNKNOWN_FIELD, "'hour'");
    assertRejected(update(USER, "", 200, "country", cat("fr")), Reason.MISSING_ENTITY_ID, "entity_id is empty");
    assertRejected(update(USER, "u1", 0, "country", cat("fr")), Reason.BAD_EVENT_TIME, "event_time_ms is 0");
    assertRejected(update(EntityKind.ENTITY_KIND_UNSPECIFIED, "u1", 200, "country", cat("fr")),
        Reason.WRONG_ENTITY_KIND, "entity_kind is 0");
    assertRejected(update(USER, "u1", 200, "country", cat("fr")).toBuilder().addDeletes("country").build(),
        Reason.CONFLICTING_DELETE, "'country' is both set and deleted");
    assertRejected(delete(USER, "u1", 200, "nope"), Reason.UNKNOWN_FIELD, "'nope'");

    assertThat(store.user("u1").feature("country")).isEqualTo(cat("de"));
    assertThat(store.user("u1").eventTimeMs("country")).isEqualTo(100);
    assertThat(store.item("i1")).isNull();
    assertThat(store.apply(update(USER, "u2", 1, "country", id(49)))).as("ids are categorical values").isNull();
  }

  @Test
  void theLeastRecentlyWrittenEntityIsEvictedBeyondTheLimit() {
    FeatureStore small = new FeatureStore(Updates.storeSchema(), 3);
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    small.bindTo(registry);
    for (String u : List.of("u1", "u2", "u3")) {
      small.apply(update(USER, u, 1, "country", cat(u)));
    }
    small.apply(update(USER, "u1", 2, "country", cat("again"))); // u2 is now the least recently written
    small.user("u2"); // reads do not count
    small.apply(update(USER, "u4", 1, "country", cat("u4")));
    small.apply(update(ITEM, "i1", 1, "category", cat("x"))); // items have their own limit

    assertThat(small.user("u2")).isNull();
    assertThat(List.of("u1", "u3", "u4")).allSatisfy(u -> assertThat(small.user(u)).isNotNull());
    assertThat(small.size(USER)).isEqualTo(3);
    assertThat(small.evictions(USER)).isEqualTo(1);
    assertThat(registry.get("hiformer.features.entities").tag("kind", "user").gauge().value()).isEqualTo(3);
    assertThat(registry.get("hiformer.features.entities").tag("kind", "item").gauge().value()).isEqualTo(1);
    assertThat(registry.get("hiformer.features.entities.max").tag("kind", "user").gauge().value()).isEqualTo(3);
    assertThat(registry.get("hiformer.features.evictions").tag("kind", "user").functionCounter().count()).isEqualTo(1);

    small.remove(USER, "u3");
    small.apply(update(USER, "u5", 1, "country", cat("u5")));
    assertThat(small.evictions(USER)).as("removal made room").isEqualTo(1);
    assertThat(List.of("u1", "u4", "u5")).allSatisfy(u -> assertThat(small.user(u)).isNotNull());
  }

  @Test
  void entitiesWrittenAgainSurviveAStreamOfNewOnes() {
    FeatureStore small = new FeatureStore(Updates.storeSchema(), 100);
    for (int cold = 0; cold < 1000; cold++) {
      for (int hot = 0; hot < 50; hot++) {
        small.apply(update(USER, "hot" + hot, 1 + cold, "country", cat("" + cold)));
      }
      small.apply(update(USER, "cold" + cold, 1, "country", cat("x")));
    }
    for (int hot = 0; hot < 50; hot++) {
      assertThat(small.user("hot" + hot)).as("hot%d", hot).isNotNull();
    }
    assertThat(small.size(USER)).isEqualTo(100);
    assertThat(small.evictions(USER)).isEqualTo(1050 - 100);
    assertThat(small.user("cold999")).as("the newest stays").isNotNull();
  }

  @Test
  void aSnapshotNeverChangesAndReadersNeverSeeAHalfAppliedUpdate() throws Exception {
    store.apply(update(USER, "u1", 1, "country", cat("0"), "recent", bag("0")));
    StoredEntity first = store.user("u1");
    AtomicBoolean done = new AtomicBoolean();
    AtomicReference<String> torn = new AtomicReference<>();
    AtomicLong reads = new AtomicLong();
    Thread reader = new Thread(() -> {
      while (!done.get()) {
        StoredEntity e = store.user("u1");
        String country = e.value("country");
        String recent = e.bag("recent", "|").getFirst();
        if (!country.equals(recent)) {
          torn.compareAndSet(null, country + " vs " + recent);
        }
        reads.incrementAndGet();
      }
    });
    reader.start();
    for (int i = 1; i <= 200_000; i++) {
      store.apply(update(USER, "u1", 1 + i, "country", cat("" + i), "recent", bag("" + i)));
    }
    done.set(true);
    reader.join();
    assertThat(torn.get()).isNull();
    assertThat(reads.get()).isPositive();
    assertThat(first.feature("country")).isEqualTo(cat("0"));
    assertThat(store.user("u1").feature("country")).isEqualTo(cat("200000"));
  }

  private void assertRejected(FeatureUpdate u, Reason reason, String message) {
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

  private static String dump(FeatureStore s, String[] columns, List<FeatureUpdate> updates) {
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
