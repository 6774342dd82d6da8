package io.hiformer.ops.loadtest;

import io.grpc.Status;
import io.hiformer.model.Batch;
import io.hiformer.model.ModelConfig;
import io.hiformer.features.online.FeatureStore;
import io.hiformer.features.online.Rejection;
import io.hiformer.features.online.StoreSchema;
import io.hiformer.proto.Candidate;
import io.hiformer.proto.EntityKind;
import io.hiformer.proto.FeatureUpdate;
import io.hiformer.proto.RankRequest;
import io.hiformer.ranker.LoadedModel;
import io.hiformer.ranker.RequestRows;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * The baseline for the served figures: the same synthetic requests featurized and scored directly
 * by a loaded model from caller threads, no gRPC; or, model only, the requests featurized once up
 * front and only the scoring timed.
 */
public final class InProcessLoad {
  private InProcessLoad() {}

  /**
   * Runs {@code threads} callers on {@code m} until the end of the spec's window.
   *
   * @param scorerCores the cores {@code m} scores on, for the report
   * @param storedItems whether item features come from an online store (filled here, up front, with
   *     the requests' item values; the requests then carry only item ids) rather than the requests
   * @param itemCacheRows the model's item row cache size (0: none)
   */
  public static Report run(LoadedModel m, LoadSpec spec, int threads, boolean modelOnly, int scorerCores,
      boolean storedItems, int itemCacheRows) throws InterruptedException {
    Stats stats = new Stats();
    int candidates = spec.candidates();
    int distinct = spec.distinct();
    ModelConfig config = m.parameters().config();
    int tasks = config.numTasks();
    FeatureStore store = storedItems ? new FeatureStore(StoreSchema.of(m.transforms().schemaFields()),
        FeatureStore.DEFAULT_MAX_ENTITIES) : null;
    List<Supplier<RankRequest>> pools = new ArrayList<>();
    List<List<Batch>> batches = new ArrayList<>();
    for (int w = 0; w < threads; w++) {
      var source = new SyntheticRequests(spec.seed() + w, config.fields(), spec.context(), candidates);
      var requests = store == null ? SyntheticRequests.cycle(source, distinct) : storedItems(source, distinct, store);
      pools.add(requests);
      // Model only: the same requests as model rows, encoded once here.
      List<Batch> encoded = new ArrayList<>();
      for (int i = 0; modelOnly && i < distinct; i++) {
        encoded.add(new RequestRows(m, "user_id", "item_id", candidates, itemCacheRows).encode(requests.get(), store));
      }
      batches.add(encoded);
    }
    long start = System.nanoTime();
    long measureFrom = spec.measureFrom(start);
    long end = spec.end(start);
    List<Thread> workers = new ArrayList<>();
    for (int w = 0; w < threads; w++) {
      var requests = pools.get(w);
      List<Batch> encoded = batches.get(w);
      RequestRows rows = new RequestRows(m, "user_id", "item_id", candidates, itemCacheRows);
      workers.add(Thread.ofPlatform().name("hiformer-loadtest-" + w).daemon().start(() -> {
        float[] logits = new float[candidates * tasks];
        for (int i = 0; ; i = (i + 1) % distinct) {
          RankRequest request = modelOnly ? null : requests.get();
          long t0 = System.nanoTime();
          if (t0 >= end) {
            break;
          }
          Status.Code code = Status.Code.OK;
          try {
            m.scorer().score(modelOnly ? encoded.get(i) : rows.encode(request, store), logits);
          } catch (RuntimeException e) {
            code = Status.Code.UNKNOWN;
          }
          if (t0 >= measureFrom) {
            stats.issued.increment();
            stats.record((System.nanoTime() - t0) / 1000, code);
          }
        }
      }));
    }
    for (Thread t : workers) {
      t.join();
    }
    return new Report("in-process" + (modelOnly ? " model only" : "") + (storedItems ? ", stored items" : "")
        + ", item cache " + itemCacheRows + " rows, " + threads + " threads, scorer " + scorerCores + " cores", m.toString(), candidates, (System.nanoTime() - measureFrom) / 1e9, stats);
  }

  /**
   * {@code n} requests of {@code source} whose candidates' item values are written to {@code store}
   * and taken out of the requests, handed out in turn.
   */
  private static Supplier<RankRequest> storedItems(SyntheticRequests source, int n, FeatureStore store) {
    RankRequest[] pool = new RankRequest[n];
    for (int i = 0; i < n; i++) {
      RankRequest.Builder r = source.next().toBuilder();
      for (Candidate.Builder c : r.getCandidatesBuilderList()) {
        Rejection rejected = store.apply(FeatureUpdate.newBuilder().setEntityKind(EntityKind.ENTITY_KIND_ITEM)
            .setEntityId(c.getItemId()).setEventTimeMs(1).putAllFields(c.getFeaturesMap()).build());
        if (rejected != null) {
          throw new IllegalStateException("the store refused item " + c.getItemId() + ": " + rejected);
        }
        c.clearFeatures();
      }
      pool[i] = r.build();
    }
    return SyntheticRequests.cycle(pool);
  }
}
