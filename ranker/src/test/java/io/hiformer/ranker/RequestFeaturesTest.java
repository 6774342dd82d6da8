package io.hiformer.ranker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.hiformer.features.RawRecord;
import io.hiformer.features.Transforms;
import io.hiformer.features.online.FeatureStore;
import io.hiformer.features.online.StoreSchema;
import io.hiformer.model.ModelRegistry;
import io.hiformer.model.Parameters;
import io.hiformer.proto.Candidate;
import io.hiformer.proto.EntityKind;
import io.hiformer.proto.FeatureUpdate;
import io.hiformer.proto.FeatureValue;
import io.hiformer.proto.RankRequest;
import io.hiformer.proto.RankerGrpc;
import io.hiformer.proto.ScoredCandidate;
import io.hiformer.proto.StringList;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a Rank call's features cannot contribute, over a real server and socket: a stored value the
 * model's transform takes beyond the float range reads as missing and is counted (the call
 * succeeds), the same value in the request is INVALID_ARGUMENT, and request features no field reads
 * are counted by field and reason with a bounded label set.
 */
class RequestFeaturesTest {
  @TempDir
  static Path dir;
  static LoadedModel model;
  static FeatureStore store;
  static RankService service;
  static RankerServer server;
  static ManagedChannel channel;
  static RankerGrpc.RankerBlockingStub ranker;

  @BeforeAll
  static void start() throws Exception {
    // Prices with a tiny spread: standardising 1e30 leaves the float range, though 1e30 is a float.
    List<RawRecord> records = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      records.add(RawRecord.of(Map.of("user_id", "u" + i % 3, "item_id", "i" + i % 5, "hour", Integer.toString(i % 4),
          "price", i % 2 == 0 ? "1" : "1.000000001", "click", Integer.toString(i % 2), "like", "0")));
    }
    Transforms t = Transforms.fit(TinyModels.SCHEMA, records);
    ModelRegistry registry = ModelRegistry.open(dir.resolve("registry"));
    registry.publish("tight", Parameters.initialize(TinyModels.config(t), 5), Map.of(Transforms.METADATA_KEY, t.toJson()),
        "{}");
    model = LoadedModel.load(registry, registry.version("tight", 1), 1);
    store = new FeatureStore(StoreSchema.of(model.transforms().schemaFields()), 100);
    service = new RankService(model);
    service.useFeatures(store);
    server = RankServiceTest.startServer(service);
    channel = RankServiceTest.channel(server);
    ranker = RankerGrpc.newBlockingStub(channel);
  }

  @AfterAll
  static void stop() throws InterruptedException {
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    server.close();
    model.close();
  }

  private static FeatureValue dense(double v) {
    return FeatureValue.newBuilder().setDense(v).build();
  }

  private static RankRequest.Builder request(Candidate.Builder... candidates) {
    RankRequest.Builder r = RankRequest.newBuilder().setUserId("u1").putContext("hour", RankServiceTest.cat("2"));
    for (Candidate.Builder c : candidates) {
      r.addCandidates(c);
    }
    return r;
  }

  private static float score(RankRequest r, String item) {
    for (ScoredCandidate c : ranker.rank(r).getCandidatesList()) {
      if (c.getItemId().equals(item)) {
        return c.getScore();
      }
    }
    throw new AssertionError(item + " not answered");
  }

  private static double counter(String name, String... tags) {
    var search = service.metrics().registry().find(name).tags(tags).counter();
    return search == null ? 0 : search.count();
  }

  @Test
  void aStoredValueTheTransformCannotUseReadsAsMissingAndIsCounted() {
    assertThat(store.apply(FeatureUpdate.newBuilder().setEntityKind(EntityKind.ENTITY_KIND_ITEM).setEntityId("i3")
        .setEventTimeMs(1).putFields("price", dense(1e30)).build())).as("a float: the store takes it").isNull();
    RankRequest stored = request(Candidate.newBuilder().setItemId("i3"), Candidate.newBuilder().setItemId("i4")).build();
    RankRequest missing = request(Candidate.newBuilder().setItemId("i3").putFeatures("price", FeatureValue.getDefaultInstance()),
        Candidate.newBuilder().setItemId("i4")).build();
    double before = counter("hiformer.unusable.stored.values", "field", "price");
    assertThat(score(stored, "i3")).isCloseTo(score(missing, "i3"), within(1e-6f));
    assertThat(counter("hiformer.unusable.stored.values", "field", "price")).isEqualTo(before + 1);
    assertThat(service.metrics().scrape()).contains("hiformer_unusable_stored_values_total{field=\"price\"}");

    // Carried by the request, the same value is the caller's to fix.
    assertThatThrownBy(() -> ranker.rank(request(Candidate.newBuilder().setItemId("i3").putFeatures("price", dense(1e30)))
        .build())).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
          assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
          assertThat(e.getStatus().getDescription()).startsWith("candidates[0] (item_id 'i3'): field 'price'")
              .contains("beyond the float range").doesNotContain("\n");
        });
  }

  @Test
  void requestFeaturesNoFieldReadsAreCountedByFieldAndReason() {
    FeatureValue bag = FeatureValue.newBuilder().setBag(StringList.newBuilder().addValues("x")).build();
    ranker.rank(request(Candidate.newBuilder().setItemId("i1").putFeatures("hour", RankServiceTest.cat("3"))
            .putFeatures("colour", RankServiceTest.cat("red")).putFeatures("item_id", RankServiceTest.cat("i9")),
        Candidate.newBuilder().setItemId("i2").putFeatures("price", bag))
        .putContext("housr", RankServiceTest.cat("2")).putContext("user_id", RankServiceTest.cat("u2")).build());
    assertThat(counter("hiformer.ignored.request.features", "field", "housr", "reason", "unknown_field")).isEqualTo(1);
    assertThat(counter("hiformer.ignored.request.features", "field", "colour", "reason", "unknown_field")).isEqualTo(1);
    assertThat(counter("hiformer.ignored.request.features", "field", "hour", "reason", "wrong_side")).isEqualTo(1);
    assertThat(counter("hiformer.ignored.request.features", "field", "price", "reason", "wrong_kind")).isEqualTo(1);
    assertThat(counter("hiformer.ignored.request.features", "field", "item_id", "reason", "id_column")).isEqualTo(1);
    assertThat(counter("hiformer.ignored.request.features", "field", "user_id", "reason", "id_column")).isEqualTo(1);
    assertThat(counter("hiformer.ignored.request.features", "field", "hour", "reason", "unknown_field"))
        .as("a key that is read is not counted").isZero();

    // Unknown keys come from clients without bound: past the cap they share one label.
    for (int i = 0; i < FeatureMetrics.MAX_UNKNOWN_NAMES + 50; i++) {
      ranker.rank(request(Candidate.newBuilder().setItemId("i1")).putContext("junk" + i, RankServiceTest.cat("x")).build());
    }
    long labels = service.metrics().registry().find("hiformer.ignored.request.features").tag("reason", "unknown_field")
        .counters().size();
    assertThat(labels).isLessThanOrEqualTo(FeatureMetrics.MAX_UNKNOWN_NAMES + 1);
    assertThat(counter("hiformer.ignored.request.features", "field", FeatureMetrics.OTHER, "reason", "unknown_field"))
        .isGreaterThanOrEqualTo(50);
    String longKey = "k".repeat(10_000);
    ranker.rank(request(Candidate.newBuilder().setItemId("i1")).putContext(longKey, RankServiceTest.cat("x")).build());
    assertThat(service.metrics().scrape()).doesNotContain(longKey);
  }
}
