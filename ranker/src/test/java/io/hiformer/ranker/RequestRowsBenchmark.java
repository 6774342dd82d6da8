package io.hiformer.ranker;

import io.hiformer.features.FeatureSchema;
import io.hiformer.features.RawRecord;
import io.hiformer.features.Transforms;
import io.hiformer.features.online.FeatureStore;
import io.hiformer.features.online.StoreSchema;
import io.hiformer.model.Batch;
import io.hiformer.model.BundledConfigs;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.ModelRegistry;
import io.hiformer.model.Parameters;
import io.hiformer.proto.Candidate;
import io.hiformer.proto.EntityKind;
import io.hiformer.proto.FeatureUpdate;
import io.hiformer.proto.FeatureValue;
import io.hiformer.proto.RankRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The host path's featurising, alone: a request of 200 candidates of the ref-serving fields (10
 * categorical and 4 dense item fields) turned into model rows, item features from the online store,
 * with and without the item row cache. {@code scripts/jmh ranker RequestRowsBenchmark -prof gc}.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
public class RequestRowsBenchmark {
  private static final int CANDIDATES = 200;
  private static final int ITEMS = 20_000;
  private static final int VOCAB = 1000;

  /** Item rows kept per model version; 0: every candidate transformed on every call. */
  @Param({"0", "100000"})
  public int itemCacheRows;

  private Path dir;
  private LoadedModel model;
  private FeatureStore store;
  private RequestRows rows;
  private final List<RankRequest> requests = new ArrayList<>();
  private int next;

  @Setup
  public void setUp() throws Exception {
    ModelConfig ref = BundledConfigs.get(BundledConfigs.REF_SERVING);
    Transforms t = transforms(ref);
    ModelConfig small = new ModelConfig("bench", 8, 2, 1, t.tasks(), 2, 2, 2, List.of(8), 1, false, t.modelFields());
    dir = Files.createTempDirectory("rows-bench");
    ModelRegistry registry = ModelRegistry.open(dir);
    registry.publish("bench", Parameters.initialize(small, 1), Map.of(Transforms.METADATA_KEY, t.toJson()), "{}");
    model = LoadedModel.load(registry, registry.version("bench", 1), 1);
    store = new FeatureStore(StoreSchema.of(model.transforms().schemaFields()), ITEMS);
    SplittableRandom random = new SplittableRandom(7);
    for (int i = 0; i < ITEMS; i++) {
      FeatureUpdate.Builder u = FeatureUpdate.newBuilder().setEntityKind(EntityKind.ENTITY_KIND_ITEM)
          .setEntityId("i" + i).setEventTimeMs(1);
      for (ModelConfig.Field f : ref.fields()) {
        if (f.side() == ModelConfig.Side.ITEM && !f.name().equals("item_id")) {
          u.putFields(f.name(), value(f, random));
        }
      }
      store.apply(u.build());
    }
    for (int r = 0; r < 64; r++) {
      RankRequest.Builder b = RankRequest.newBuilder().setUserId("u" + random.nextInt(VOCAB));
      for (ModelConfig.Field f : ref.fields()) {
        if (f.side() != ModelConfig.Side.ITEM && !f.name().equals("user_id")) {
          b.putContext(f.name(), value(f, random));
        }
      }
      for (int c = 0; c < CANDIDATES; c++) {
        b.addCandidates(Candidate.newBuilder().setItemId("i" + random.nextInt(ITEMS)));
      }
      requests.add(b.build());
    }
    rows = new RequestRows(model, "user_id", "item_id", CANDIDATES, itemCacheRows);
  }

  @TearDown
  public void tearDown() throws Exception {
    model.close();
    try (var files = Files.walk(dir)) {
      files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }

  @Benchmark
  public Batch encode() {
    RankRequest r = requests.get(next);
    next = (next + 1) % requests.size();
    return rows.encode(r, store);
  }

  private static FeatureValue value(ModelConfig.Field f, SplittableRandom random) {
    return f.kind() == ModelConfig.FieldKind.DENSE ? FeatureValue.newBuilder().setDense(random.nextGaussian()).build()
        : FeatureValue.newBuilder().setCategorical("v" + random.nextInt(VOCAB)).build();
  }

  /** Transforms of {@code c}'s fields fitted on records holding every value v0.. (u0.., i0.. for the ids). */
  private static Transforms transforms(ModelConfig c) {
    StringBuilder yaml = new StringBuilder("tasks: [{name: click}]\nfields:\n");
    for (ModelConfig.Field f : c.fields()) {
      yaml.append("  - {name: ").append(f.name()).append(", kind: ").append(f.kind().name().toLowerCase(Locale.ROOT))
          .append(", side: ").append(f.side().name().toLowerCase(Locale.ROOT))
          .append(f.kind() == ModelConfig.FieldKind.DENSE ? ", standardize: true" : "").append("}\n");
    }
    List<RawRecord> records = new ArrayList<>();
    for (int r = 0; r < VOCAB; r++) {
      SplittableRandom random = new SplittableRandom(r);
      Map<String, String> row = new HashMap<>();
      for (ModelConfig.Field f : c.fields()) {
        String prefix = f.name().equals("user_id") ? "u" : f.name().equals("item_id") ? "i" : "v";
        row.put(f.name(), f.kind() == ModelConfig.FieldKind.DENSE ? Double.toString(random.nextGaussian()) : prefix + r);
      }
      row.put("click", r % 10 == 0 ? "1" : "0");
      records.add(row::get);
    }
    return Transforms.fit(FeatureSchema.parse(yaml.toString()), records);
  }
}
