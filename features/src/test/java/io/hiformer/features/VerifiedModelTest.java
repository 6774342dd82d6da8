package io.hiformer.features;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hiformer.kernels.CpuKernels;
import io.hiformer.model.Hiformer;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.ModelRegistry;
import io.hiformer.model.Parameters;
import io.hiformer.model.CpuScorer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The one verified-model bundle: what it reads from a real registry, and each check it makes. */
class VerifiedModelTest {
  @TempDir
  Path root;

  static Transforms transforms(String... extraFields) {
    StringBuilder yaml = new StringBuilder("""
        tasks: [{name: click}]
        fields:
          - {name: user_id, kind: categorical, side: user}
          - {name: item_id, kind: categorical, side: item}
        """);
    for (String f : extraFields) {
      yaml.append("  - {name: ").append(f).append(", kind: categorical, side: context}\n");
    }
    List<RawRecord> rows = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      rows.add(RawRecord.of(Map.of("user_id", "u" + i % 3, "item_id", "i" + i % 4, "hour", "h" + i % 2,
          "click", Integer.toString(i % 2))));
    }
    return Transforms.fit(FeatureSchema.parse(yaml.toString()), rows);
  }

  static ModelConfig config(Transforms t) {
    return new ModelConfig("tiny", 8, 2, 1, t.tasks(), 2, 2, 2, List.of(8), 1, false, t.modelFields());
  }

  @Test
  void loadsAVersionWithItsTransformsAndWhatTheRegistryRecords() throws Exception {
    ModelRegistry registry = ModelRegistry.open(root);
    Transforms t = transforms();
    ModelRegistry.Version v = registry.publish("tiny", Parameters.initialize(config(t), 1),
        Map.of(Transforms.METADATA_KEY, t.toJson()), "{}");

    VerifiedModel m = VerifiedModel.load(registry, "tiny", "latest");

    assertThat(m.name()).isEqualTo("tiny");
    assertThat(m.version()).isEqualTo(v.number());
    assertThat(m.sha256()).isEqualTo(v.sha256());
    assertThat(m.created()).isEqualTo(v.created());
    assertThat(m.transforms().modelFields()).isEqualTo(m.config().fields());
    assertThat(m.transformsJson()).isEqualTo(t.toJson());
    assertThat(m.label()).isEqualTo("v1");
    assertThat(m).hasToString("tiny v1");
  }

  @Test
  void refusesAVersionWithoutTransforms() throws Exception {
    ModelRegistry registry = ModelRegistry.open(root);
    ModelRegistry.Version v = registry.publish("tiny", Parameters.initialize(config(transforms()), 1), Map.of(), "{}");

    assertThatThrownBy(() -> VerifiedModel.load(registry, v))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("model tiny v1 has no 'transforms' metadata; it cannot featurize requests or examples");
  }

  @Test
  void refusesTransformsThatDoNotProduceTheModelsFields() throws Exception {
    ModelRegistry registry = ModelRegistry.open(root);
    Transforms other = transforms("hour");
    ModelRegistry.Version v = registry.publish("tiny", Parameters.initialize(config(transforms()), 1),
        Map.of(Transforms.METADATA_KEY, other.toJson()), "{}");

    assertThatThrownBy(() -> VerifiedModel.load(registry, v))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("model tiny v1: the stored transforms do not produce the model's fields");
    assertThatThrownBy(() -> new VerifiedModel("mem", 3, "", Parameters.initialize(config(transforms()), 1), other))
        .hasMessage("model mem v3: the stored transforms do not produce the model's fields");
  }

  @Test
  void aRefThatDoesNotResolveIsNamed() throws Exception {
    ModelRegistry registry = ModelRegistry.open(root);
    Transforms t = transforms();
    registry.publish("tiny", Parameters.initialize(config(t), 1), Map.of(Transforms.METADATA_KEY, t.toJson()), "{}");

    assertThatThrownBy(() -> VerifiedModel.load(registry, "tiny", "staging"))
        .isInstanceOf(NoSuchElementException.class)
        .hasMessageContaining("model 'tiny'").hasMessageContaining("has no version or alias 'staging'");
  }

  @Test
  void aFileChangedAfterPublishingIsRefused() throws Exception {
    ModelRegistry registry = ModelRegistry.open(root);
    Transforms t = transforms();
    ModelRegistry.Version v = registry.publish("tiny", Parameters.initialize(config(t), 1),
        Map.of(Transforms.METADATA_KEY, t.toJson()), "{}");
    byte[] bytes = java.nio.file.Files.readAllBytes(v.file());
    bytes[bytes.length - 1] ^= 1;
    java.nio.file.Files.write(v.file(), bytes);

    assertThatThrownBy(() -> VerifiedModel.load(registry, v)).hasMessageContaining("SHA-256");
  }

  @Test
  void weightsThatScoreRowsOfMissingValuesAsNonFiniteAreRefused() {
    Transforms t = transforms();
    Parameters fine = Parameters.initialize(config(t), 1);
    Parameters overflowing = fine.copy();
    overflowing.tensors().forEach(tensor -> Arrays.fill(tensor.data(), 3e38f));
    VerifiedModel good = new VerifiedModel("tiny", 1, "", fine, t);
    VerifiedModel bad = new VerifiedModel("tiny", 2, "", overflowing, t);

    try (CpuScorer scorer = new CpuScorer(new Hiformer(fine, CpuKernels.best()), 1)) {
      good.requireFiniteScores(scorer, CpuScorer.DEFAULT_TILE, 2);
    }
    try (CpuScorer scorer = new CpuScorer(new Hiformer(overflowing, CpuKernels.best()), 1)) {
      assertThatThrownBy(() -> bad.requireFiniteScores(scorer, CpuScorer.DEFAULT_TILE, 1))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageStartingWith("model tiny v2 scores rows of missing values as ")
          .hasMessageEndingWith("; its weights are not usable");
    }
  }
}
