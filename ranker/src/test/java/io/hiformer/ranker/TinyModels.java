package io.hiformer.ranker;

import io.hiformer.features.FeatureSchema;
import io.hiformer.features.RawRecord;
import io.hiformer.features.Transforms;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.ModelRegistry;
import io.hiformer.model.Parameters;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** A tiny two-task model with user, item, context and dense fields, published to a registry. */
final class TinyModels {
  static final String NAME = "tiny";

  static final FeatureSchema SCHEMA = FeatureSchema.parse("""
      tasks: [{name: click}, {name: like}]
      fields:
        - {name: user_id, kind: categorical, side: user}
        - {name: item_id, kind: categorical, side: item}
        - {name: hour, kind: categorical, side: context}
        - {name: price, kind: dense, side: item, standardize: true}
      """);

  private TinyModels() {}

  static Transforms transforms() {
    List<RawRecord> records = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      records.add(RawRecord.of(Map.of("user_id", "u" + i % 3, "item_id", "i" + i % 5, "hour", Integer.toString(i % 4),
          "price", Double.toString(1.5 * i), "click", Integer.toString(i % 2), "like", Integer.toString(i % 3 == 0 ? 1 : 0))));
    }
    return Transforms.fit(SCHEMA, records);
  }

  static ModelConfig config(Transforms t) {
    return new ModelConfig(NAME, 8, 2, 1, t.tasks(), 2, 2, 2, List.of(8), 1, false, t.modelFields());
  }

  /** Publishes the next version of {@value #NAME}, with parameters initialised from {@code seed}. */
  static ModelRegistry.Version publish(ModelRegistry registry, long seed) throws IOException {
    Transforms t = transforms();
    Parameters p = Parameters.initialize(config(t), seed);
    return registry.publish(NAME, p, Map.of(Transforms.METADATA_KEY, t.toJson()), "{\"seed\": " + seed + "}");
  }
}
