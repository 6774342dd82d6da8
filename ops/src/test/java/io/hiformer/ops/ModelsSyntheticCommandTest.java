package io.hiformer.ops;

import static io.hiformer.ops.VerifyCommandTest.run;
import static org.assertj.core.api.Assertions.assertThat;

import io.hiformer.features.Featurizer;
import io.hiformer.features.RawRecord;
import io.hiformer.model.Batch;
import io.hiformer.model.BundledConfigs;
import io.hiformer.model.ModelRegistry;
import io.hiformer.ops.VerifyCommandTest.Result;
import io.hiformer.ranker.LoadedModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code hiformer models synthetic}: servable models of a config without training data. */
class ModelsSyntheticCommandTest {
  @TempDir
  Path root;

  @Test
  void publishesServableVersionsWithFullVocabularies() throws Exception {
    Path config = root.resolve("config.json");
    Files.writeString(config, """
        {"name": "syn", "token_dim": 8, "heads": 2, "layers": 1, "tasks": ["click", "install"], "rank_k": 2,
         "rank_v": 2, "ffn_mult": 2, "tower_hidden": [8], "dense_tokens": 1, "prune_last_layer": true,
         "fields": [
          {"name": "user_id", "kind": "categorical", "side": "user", "vocab": 50},
          {"name": "item_id", "kind": "categorical", "side": "item", "vocab": 30},
          {"name": "ctx_hour", "kind": "categorical", "side": "context", "vocab": 5},
          {"name": "item_rating", "kind": "dense", "side": "item"}
         ]}
        """);
    Path registryDir = root.resolve("registry");
    Result r = run("models", "synthetic", "--registry", registryDir.toString(), "--model", "syn", "--config",
        config.toString(), "--count", "2", "--seed", "7");
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).contains("published syn v1", "published syn v2", "seed 8");

    ModelRegistry registry = ModelRegistry.open(registryDir);
    try (LoadedModel m = LoadedModel.load(registry, registry.version("syn", 2), 1)) {
      assertThat(m.parameters().config().fields()).hasSize(4);
      Featurizer f = new Featurizer(m.transforms());
      Batch b = new Batch(m.parameters().config(), 2);
      // The values loadtest sends are in the vocabularies; others are unseen.
      f.add(RawRecord.of(Map.of("user_id", "u48", "item_id", "i28", "ctx_hour", "v3", "item_rating", "0.5")), b);
      f.add(RawRecord.of(Map.of("user_id", "u49", "item_id", "x", "ctx_hour", "v4")), b);
      assertThat(b.categorical(0, 0)).isPositive();
      assertThat(b.categorical(0, 1)).isPositive();
      assertThat(b.categorical(0, 2)).isPositive();
      assertThat(b.categorical(1, 0)).isZero();
      assertThat(b.categorical(1, 1)).isZero();
      assertThat(b.categorical(1, 2)).isZero();
    }

    Result bad = run("models", "synthetic", "--registry", registryDir.toString(), "--model", "syn", "--config",
        config.toString(), "--count", "0");
    assertThat(bad.exit()).isEqualTo(2);
    assertThat(bad.err()).contains("--count must be positive");
  }

  @Test
  void theBundledRefServingConfigNeedsNoFile() throws Exception {
    Path registryDir = root.resolve("registry");
    Result r = run("models", "synthetic", "--registry", registryDir.toString(), "--model", "ref", "--config",
        "ref-serving");
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).contains("published ref v1");
    ModelRegistry registry = ModelRegistry.open(registryDir);
    assertThat(registry.verify(registry.version("ref", 1)).parameters().config())
        .isEqualTo(BundledConfigs.get(BundledConfigs.REF_SERVING));

    Result bad = run("models", "synthetic", "--registry", registryDir.toString(), "--model", "ref", "--config",
        "ref-servin");
    assertThat(bad.exit()).isEqualTo(2);
    assertThat(bad.err()).contains("no model config file 'ref-servin'", "bundled: ref-serving");
  }
}
