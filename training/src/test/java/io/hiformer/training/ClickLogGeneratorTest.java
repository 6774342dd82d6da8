package io.hiformer.training;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hiformer.features.BadRows;
import io.hiformer.features.FeatureSchema;
import io.hiformer.features.RawRecord;
import io.hiformer.features.Transforms;
import io.hiformer.features.data.RecordFiles;
import io.hiformer.model.ModelConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ClickLogGeneratorTest {

  @TempDir
  Path dir;

  @Test
  void sameSeedSameBytesWhateverTheSplitAndThreads() throws Exception {
    var one = ClickLogGenerator.writeDataSet(dir.resolve("a"),
        new ClickLogGenerator.Spec(7, 1000, 100, 3000, 0, 0, 1, false), 1, done -> {});
    var three = ClickLogGenerator.writeDataSet(dir.resolve("b"),
        new ClickLogGenerator.Spec(7, 1000, 100, 3000, 0, 0, 3, false), 2, done -> {});
    assertThat(three.trainFiles()).hasSize(3);
    StringBuilder joined = new StringBuilder(ClickLogGenerator.HEADER).append('\n');
    for (String name : three.trainFiles()) {
      List<String> lines = Files.readAllLines(dir.resolve("b").resolve(name));
      assertThat(lines.getFirst()).isEqualTo(ClickLogGenerator.HEADER);
      lines.subList(1, lines.size()).forEach(l -> joined.append(l).append('\n'));
    }
    assertThat(Files.readString(dir.resolve("a").resolve(one.trainFiles().getFirst()))).isEqualTo(joined.toString());
    assertThat(three.clicks()).isEqualTo(one.clicks());

    var otherSeed = ClickLogGenerator.writeDataSet(dir.resolve("c"),
        new ClickLogGenerator.Spec(8, 1000, 100, 3000, 0, 0, 1, false), 1, done -> {});
    assertThat(Files.readString(dir.resolve("c").resolve(otherSeed.trainFiles().getFirst())))
        .isNotEqualTo(joined.toString());
  }

  @Test
  void theLogColumnsAreWellFormedAndTheClientsCommasStayInsideTheirQuotes() throws Exception {
    var written = ClickLogGenerator.writeDataSet(dir,
        new ClickLogGenerator.Spec(5, 1000, 100, 2000, 0, 0, 1, false), 1, done -> {});
    FeatureSchema schema = FeatureSchema.parse(Files.readString(dir.resolve("schema.yaml")));
    List<RawRecord> records = new ArrayList<>();
    RecordFiles.open(dir.resolve(written.trainFiles().getFirst()), schema, BadRows.none()).forEach(records::add);
    assertThat(records).hasSize(2000);
    java.util.Set<String> requests = new java.util.HashSet<>();
    for (RawRecord r : records) {
      assertThat(r.value("request_id")).matches("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
      requests.add(r.value("request_id"));
      String hour = r.value("ctx_hour").substring(1);
      assertThat(r.value("event_time")).matches("2026-12-01T" + (hour.length() == 1 ? "0" : "") + hour
          + ":[0-5][0-9]:[0-5][0-9]\\.[0-9]{3}Z");
      assertThat(r.value("session_id")).matches("[0-9a-f]{16}");
      assertThat(r.value("user_agent")).startsWith("Mozilla/5.0 (");
      // the last column: a quoted value with commas, parsed whole (nothing spills into a 18th column)
      assertThat(r.value("app_version")).matches("7\\.[0-9]+\\.2");
    }
    assertThat(requests).hasSize(2000);
    assertThat(records).anyMatch(r -> r.value("user_agent").contains("(KHTML, like Gecko)"));
    // about 270 bytes a row, as real click logs are: what the larger-than-memory runs measure
    long bytes = Files.size(dir.resolve(written.trainFiles().getFirst()));
    assertThat(bytes / 2000).isBetween(240L, 320L);
  }

  @Test
  void theWrittenSchemaReadsEveryRowAndTheFilesCarryThePlantedSignal() throws Exception {
    var written = ClickLogGenerator.writeDataSet(dir,
        new ClickLogGenerator.Spec(3, 5000, 2000, 20_000, 2000, 20_000, 2, true), 2, done -> {});
    assertThat(written.rows()).isEqualTo(42_000);
    assertThat(Files.exists(dir.resolve("test.csv.gz"))).isTrue();
    double ctr = (double) written.clicks() / written.rows();
    assertThat(ctr).isBetween(0.05, 0.35);
    // The planted logit ranks far better than chance, and far from perfectly (labels are drawn).
    assertThat(written.oracleTestAuc()).isBetween(0.70, 0.95);

    FeatureSchema schema = FeatureSchema.parse(Files.readString(dir.resolve("schema.yaml")));
    List<RawRecord> records = new ArrayList<>();
    for (String name : written.trainFiles()) {
      RecordFiles.open(dir.resolve(name), schema, BadRows.none()).forEach(records::add);
    }
    assertThat(records).hasSize(20_000);
    Transforms transforms = Transforms.fit(schema, records, BadRows.none());
    List<String> names = transforms.modelFields().stream().map(ModelConfig.Field::name).toList();
    assertThat(names).containsExactly("user_id", "user_segment", "user_country", "user_age", "recent_categories",
        "item_id", "item_category", "item_tags", "item_price", "ctx_hour", "ctx_device");
    // Power-law ids: many users are seen once (dropped by min_count 2), popular ones often.
    int userVocab = transforms.modelFields().getFirst().vocab();
    assertThat(userVocab).isGreaterThan(500).isLessThan(5000);

    // The user x item x context product: in cells with a clear planted affinity, the drawn labels'
    // day-minus-night click rate has the planted sign far more often than chance.
    ClickLogGenerator world = new ClickLogGenerator(3, 5000, 2000);
    ClickLogGenerator.Row row = new ClickLogGenerator.Row();
    int s = ClickLogGenerator.SEGMENTS;
    int c = ClickLogGenerator.CATEGORIES;
    double[][][] clicks = new double[2][s][c];
    double[][][] shown = new double[2][s][c];
    for (long i = 0; i < 300_000; i++) {
      world.row(i, row);
      int daypart = row.hour >= 8 && row.hour < 20 ? 0 : 1;
      clicks[daypart][row.segment][row.category] += row.clicked ? 1 : 0;
      shown[daypart][row.segment][row.category]++;
    }
    int cells = 0;
    int agree = 0;
    for (int i = 0; i < s; i++) {
      for (int j = 0; j < c; j++) {
        if (Math.abs(world.affinity(i, j)) > 0.5 && shown[0][i][j] > 50 && shown[1][i][j] > 50) {
          double diff = clicks[0][i][j] / shown[0][i][j] - clicks[1][i][j] / shown[1][i][j];
          cells++;
          agree += Math.signum(diff) == Math.signum(world.affinity(i, j)) ? 1 : 0;
        }
      }
    }
    assertThat(cells).isGreaterThan(300);
    assertThat((double) agree / cells).isGreaterThan(0.85);
  }

  @Test
  void badSpecsAreRefusedBeforeAnythingIsWritten() {
    assertThatThrownBy(() -> new ClickLogGenerator.Spec(1, 10, 10, 0, 0, 0, 1, false))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("rows");
    assertThatThrownBy(() -> new ClickLogGenerator.Spec(1, 10, 10, 5, 0, 0, 6, false))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("train files");
    assertThatThrownBy(() -> new ClickLogGenerator(1, 0, 10))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("users");
  }
}
