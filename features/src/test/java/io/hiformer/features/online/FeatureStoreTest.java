package io.hiformer.features.online;

import static io.hiformer.features.online.Updates.ITEM;
import static io.hiformer.features.online.Updates.USER;
import static io.hiformer.features.online.Updates.bag;
import static io.hiformer.features.online.Updates.cat;
import static io.hiformer.features.online.Updates.update;
import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** What only the in-memory store does: its entity limit and lock-free snapshots; the rest is in {@link OnlineStoreContractTest}. */
class FeatureStoreTest {

  private final FeatureStore store = new FeatureStore(Updates.storeSchema(), 1000);

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

}
