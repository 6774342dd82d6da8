package io.hiformer.training;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.hiformer.features.BadRows;
import io.hiformer.features.FeatureSchema;
import io.hiformer.features.Featurizer;
import io.hiformer.features.RawRecord;
import io.hiformer.features.Transforms;
import io.hiformer.features.data.Joins;
import io.hiformer.features.data.RecordFiles;
import io.hiformer.features.data.Shuffle;
import io.hiformer.model.Batch;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.ModelFile;
import io.hiformer.model.Parameters;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Frappe schema on the real files in {@code shared/data/frappe_x1}, a sibling of the
 * repository root. Skipped where that data is absent: it may not be redistributed, so it is
 * never part of the project.
 */
class FrappeSchemaTest {
  static Path data;
  static FeatureSchema schema;
  static Joins joins;
  static Transforms transforms;

  @BeforeAll
  static void fitOnTrain() throws IOException {
    data = frappeDir();
    if (data == null) {
      return;
    }
    try (InputStream in = FrappeSchemaTest.class.getResourceAsStream("frappe.yaml")) {
      schema = FeatureSchema.parse(new String(in.readAllBytes(), StandardCharsets.UTF_8));
    }
    joins = Joins.load(schema, data);
    transforms = Transforms.fit(schema, joined("train_reconstructed.csv"));
  }

  @BeforeEach
  void needsTheData() {
    assumeTrue(data != null,
        "Frappe data not found (no shared/data/frappe_x1 above " + Path.of("").toAbsolutePath()
            + ", or -Dfrappe.dir without train_reconstructed.csv): skipping the real-data test");
  }

  static Iterable<RawRecord> joined(String file) {
    return joins.join(RecordFiles.csv(data.resolve(file), BadRows.none()));
  }

  /**
   * System property {@code frappe.dir} if set, else the first {@code shared/data/frappe_x1} found
   * walking up from the working directory.
   */
  static Path frappeDir() {
    String override = System.getProperty("frappe.dir");
    if (override != null) {
      Path p = Path.of(override);
      return Files.isRegularFile(p.resolve("train_reconstructed.csv")) ? p : null;
    }
    for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
      Path candidate = p.resolve("shared/data/frappe_x1");
      if (Files.isRegularFile(candidate.resolve("train_reconstructed.csv"))) {
        return candidate;
      }
    }
    return null;
  }

  @Test
  void vocabulariesMatchTheDistinctCountsOfTheTrainingFile() {
    Map<String, Integer> vocab = new HashMap<>();
    transforms.modelFields().forEach(f -> vocab.put(f.name(), f.vocab()));
    // Distinct values in train per the data README, plus id 0.
    assertThat(vocab).containsEntry("user", 955).containsEntry("item", 4083).containsEntry("daytime", 8)
        .containsEntry("weekday", 8).containsEntry("isweekend", 3).containsEntry("homework", 4)
        .containsEntry("weather", 10).containsEntry("country", 81).containsEntry("city", 234)
        .containsEntry("cost", 3).containsEntry("rating_band", 6);
    // Joined attributes, counted independently over train rows; "unknown" is missing, not a value.
    assertThat(vocab).containsEntry("category", 32).containsEntry("downloads", 16).containsEntry("language", 29)
        .containsEntry("price", 141).containsEntry("developer", 2809);
    assertThat(transforms.modelFields()).filteredOn(f -> f.kind() == ModelConfig.FieldKind.DENSE)
        .extracting(ModelConfig.Field::name).containsExactly("rating");
    assertThat(transforms.tasks()).containsExactly("use");
  }

  @Test
  void validationFileBecomesExamplesWithTheReadmeCounts() {
    ModelConfig config = config();
    Featurizer featurizer = new Featurizer(transforms);
    Batch batch = new Batch(config, 4096);
    int rows = 0;
    double positives = 0;
    int unknownItems = 0;
    int unknownCategory = 0;
    List<String> categorical = config.categoricalFields().stream().map(ModelConfig.Field::name).toList();
    int itemField = categorical.indexOf("item");
    int categoryField = categorical.indexOf("category");
    for (RawRecord r : Shuffle.window(joined("valid.csv"), 10_000, 1)) {
      if (batch.size() == batch.capacity()) {
        batch.clear();
      }
      int b = featurizer.add(r, batch);
      rows++;
      positives += batch.label(b, 0);
      assertThat(batch.labelMask(b, 0)).isEqualTo(1f);
      unknownItems += batch.categorical(b, itemField) == 0 ? 1 : 0;
      unknownCategory += batch.categorical(b, categoryField) == 0 ? 1 : 0;
      assertThat(Float.isFinite(batch.dense(b, 0))).isTrue();
    }
    assertThat(rows).isEqualTo(57_722);
    assertThat(positives).isEqualTo(19_063);
    assertThat(unknownItems).isLessThan(rows / 10);
    assertThat(unknownCategory).isPositive().isLessThan(rows / 2);
  }

  @Test
  void transformsTravelInTheModelFile(@TempDir Path dir) throws IOException {
    Path file = dir.resolve("model.safetensors");
    ModelFile.write(file, Parameters.initialize(config(), 1), Map.of(Transforms.METADATA_KEY, transforms.toJson()));
    Transforms loaded = Transforms.fromJson(ModelFile.load(file).metadata().get(Transforms.METADATA_KEY));
    assertThat(loaded.toJson()).isEqualTo(transforms.toJson());
    Batch a = new Batch(config(), 100);
    Batch b = new Batch(config(), 100);
    Featurizer fa = new Featurizer(transforms);
    Featurizer fb = new Featurizer(loaded);
    for (RawRecord r : joined("test.csv")) {
      if (a.size() == 100) {
        break;
      }
      fa.add(r, a);
      fb.add(r, b);
    }
    for (int i = 0; i < 100; i++) {
      for (int c = 0; c < config().categoricalFields().size(); c++) {
        assertThat(b.categorical(i, c)).isEqualTo(a.categorical(i, c));
      }
      assertThat(b.dense(i, 0)).isEqualTo(a.dense(i, 0));
    }
  }

  static ModelConfig config() {
    return new ModelConfig("frappe", 10, 2, 1, transforms.tasks(), 4, 4, 2, List.of(), 1, true,
        transforms.modelFields());
  }
}
