package io.hiformer.ranker;

import static org.assertj.core.api.Assertions.assertThat;

import io.hiformer.features.FeatureSchema;
import io.hiformer.features.RawRecord;
import io.hiformer.features.Transforms;
import io.hiformer.features.online.FeatureStore;
import io.hiformer.features.online.StoreSchema;
import io.hiformer.model.Batch;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.ModelRegistry;
import io.hiformer.model.Parameters;
import io.hiformer.proto.Candidate;
import io.hiformer.proto.EntityKind;
import io.hiformer.proto.FeatureUpdate;
import io.hiformer.proto.FeatureValue;
import io.hiformer.proto.RankRequest;
import io.hiformer.proto.StringList;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The item row cache on a real model file: rows answered from it are the rows a fresh transform
 * makes, bit for bit; a new stored snapshot, a candidate's own features and item values in the
 * context are never answered from it; it stays within its bound. (Invalidation through the Kafka
 * ingestion path: {@link StoredFeaturesTest}.)
 */
class ItemRowCacheTest {
  private static final FeatureSchema SCHEMA = FeatureSchema.parse("""
      tasks: [{name: click}]
      fields:
        - {name: user_id, kind: categorical, side: user}
        - {name: item_id, kind: categorical, side: item}
        - {name: brand, kind: categorical, side: item}
        - {name: tags, kind: bag, side: item, separator: ";"}
        - {name: price, kind: dense, side: item, standardize: true}
        - {name: hour, kind: categorical, side: context}
      """);

  @TempDir
  static Path dir;
  private static LoadedModel model;

  @BeforeAll
  static void load() throws Exception {
    List<RawRecord> records = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      records.add(RawRecord.of(Map.of("user_id", "u" + i % 3, "item_id", "i" + i % 8, "brand", "b" + i % 5,
          "tags", "t" + i % 4 + ";t" + i % 6, "price", Double.toString(1.5 * i), "hour", Integer.toString(i % 4),
          "click", Integer.toString(i % 2))));
    }
    Transforms t = Transforms.fit(SCHEMA, records);
    ModelConfig config = new ModelConfig("cached", 8, 2, 1, t.tasks(), 2, 2, 2, List.of(8), 1, false, t.modelFields());
    ModelRegistry registry = ModelRegistry.open(dir.resolve("registry"));
    registry.publish("cached", Parameters.initialize(config, 5), Map.of(Transforms.METADATA_KEY, t.toJson()), "{}");
    model = LoadedModel.load(registry, registry.version("cached", 1), 1);
  }

  @AfterAll
  static void close() {
    model.close();
  }

  private static FeatureValue cat(String v) {
    return FeatureValue.newBuilder().setCategorical(v).build();
  }

  private static FeatureValue dense(double v) {
    return FeatureValue.newBuilder().setDense(v).build();
  }

  private static FeatureValue bag(String... v) {
    return FeatureValue.newBuilder().setBag(StringList.newBuilder().addAllValues(List.of(v))).build();
  }

  private static FeatureStore store() {
    return new FeatureStore(StoreSchema.of(model.transforms().schemaFields()), 1000);
  }

  private static void storeItem(FeatureStore store, String id, String brand, double price, String... tags) {
    FeatureUpdate.Builder u = FeatureUpdate.newBuilder().setEntityKind(EntityKind.ENTITY_KIND_ITEM).setEntityId(id)
        .setEventTimeMs(System.currentTimeMillis()).putFields("brand", cat(brand)).putFields("price", dense(price));
    if (tags.length > 0) {
      u.putFields("tags", bag(tags));
    }
    assertThat(store.apply(u.build())).isNull();
  }

  /** u1 and {@code items}, in that order. */
  private static RankRequest request(String... items) {
    RankRequest.Builder r = RankRequest.newBuilder().setUserId("u1").putContext("hour", cat("2"));
    for (String item : items) {
      r.addCandidates(Candidate.newBuilder().setItemId(item));
    }
    return r.build();
  }

  private static RequestRows rows(ItemRowCache cache) {
    return new RequestRows(model, "user_id", "item_id", 64, cache);
  }

  /** Every model input of every row, as text: equal text is equal bits. */
  private static String contents(Batch b) {
    ModelConfig c = model.parameters().config();
    StringBuilder out = new StringBuilder();
    for (int r = 0; r < b.size(); r++) {
      out.append("row ").append(r).append(':');
      for (int j = 0; j < c.categoricalFields().size(); j++) {
        out.append(" c").append(b.categorical(r, j));
      }
      for (int k = 0; k < c.bagFields().size(); k++) {
        out.append(" b").append(java.util.Arrays.toString(b.bag(r, k)));
      }
      for (int k = 0; k < c.denseFields().size(); k++) {
        out.append(" d").append(Integer.toHexString(Float.floatToRawIntBits(b.dense(r, k))));
      }
      out.append('\n');
    }
    return out.toString();
  }

  @Test
  void rowsFromTheCacheAreTheRowsATransformMakesBitForBit() {
    FeatureStore store = store();
    for (int i = 0; i < 8; i++) {
      storeItem(store, "i" + i, "b" + i % 5, 0.7 * i, "t" + i % 4, "t" + i % 6, "unseen");
    }
    ItemRowCache cache = new ItemRowCache(100);
    RequestRows cached = rows(cache);
    RequestRows fresh = rows(null);
    // i9 is not stored; i3 twice in one request.
    RankRequest request = request("i0", "i3", "i9", "i7", "i3", "i1");
    String expected = contents(fresh.encode(request, store));
    assertThat(contents(cached.encode(request, store))).as("first call, filling the cache").isEqualTo(expected);
    assertThat(cache.size()).isEqualTo(5);
    assertThat(contents(cached.encode(request, store))).as("answered from the cache").isEqualTo(expected);
    assertThat(contents(rows(cache).encode(request, store))).as("another thread's rows, same cache")
        .isEqualTo(expected);
    assertThat(contents(cached.encode(request("i1", "i0"), store))).isEqualTo(contents(fresh.encode(request("i1", "i0"), store)));
  }

  @Test
  void aNewStoredSnapshotIsNeverAnsweredFromTheCache() {
    FeatureStore store = store();
    storeItem(store, "i1", "b1", 2.0, "t1");
    RequestRows cached = rows(new ItemRowCache(100));
    RequestRows fresh = rows(null);
    String before = contents(cached.encode(request("i1", "i2"), store));
    storeItem(store, "i1", "b2", 9.0, "t2");
    storeItem(store, "i2", "b3", 4.0); // i2 was not stored when cached
    String after = contents(cached.encode(request("i1", "i2"), store));
    assertThat(after).isNotEqualTo(before).isEqualTo(contents(fresh.encode(request("i1", "i2"), store)));
    store.remove(EntityKind.ENTITY_KIND_ITEM, "i1");
    assertThat(contents(cached.encode(request("i1", "i2"), store)))
        .isEqualTo(contents(fresh.encode(request("i1", "i2"), store)));
  }

  @Test
  void aCandidatesOwnFeaturesAndItemValuesInTheContextWinOverCachedRows() {
    FeatureStore store = store();
    storeItem(store, "i1", "b1", 2.0, "t1");
    storeItem(store, "i2", "b2", 3.0, "t2");
    ItemRowCache cache = new ItemRowCache(100);
    RequestRows cached = rows(cache);
    RequestRows fresh = rows(null);
    String stored = contents(cached.encode(request("i1", "i2"), store));

    RankRequest own = RankRequest.newBuilder(request()).addCandidates(Candidate.newBuilder().setItemId("i1")
        .putFeatures("price", dense(30)).putFeatures("tags", bag("t3")))
        .addCandidates(Candidate.newBuilder().setItemId("i2")).build();
    String ownRows = contents(cached.encode(own, store));
    assertThat(ownRows).isEqualTo(contents(fresh.encode(own, store))).isNotEqualTo(stored);

    RankRequest context = RankRequest.newBuilder(request("i1", "i2")).putContext("brand", cat("b4")).build();
    String contextRows = contents(cached.encode(context, store));
    assertThat(contextRows).isEqualTo(contents(fresh.encode(context, store))).isNotEqualTo(stored);

    assertThat(contents(cached.encode(request("i1", "i2"), store))).as("the cached rows were not replaced")
        .isEqualTo(stored);
    assertThat(cache.size()).isEqualTo(2);
  }

  @Test
  void staysWithinItsBoundAndKeepsRowsInUse() {
    ItemRowCache cache = new ItemRowCache(10);
    RequestRows rows = rows(cache);
    String hot = contents(rows.encode(request("hot")));
    for (int i = 0; i < 1000; i++) {
      rows.encode(request("i" + i, "hot"));
      assertThat(cache.size()).isLessThanOrEqualTo(10);
    }
    assertThat(cache.get("hot", null)).as("a row used on every call survives").isNotNull();
    assertThat(cache.get("i0", null)).as("a row not used since is gone").isNull();
    assertThat(contents(rows.encode(request("hot")))).isEqualTo(hot);
  }
}
