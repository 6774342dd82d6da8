package io.hiformer.training.evaluation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.hiformer.features.BadRowException;
import io.hiformer.features.BadRows;
import io.hiformer.features.FeatureSchema;
import io.hiformer.features.Featurizer;
import io.hiformer.features.RawRecord;
import io.hiformer.features.Transforms;
import io.hiformer.features.VerifiedModel;
import io.hiformer.features.data.ExampleFiles;
import io.hiformer.features.data.RecordFiles;
import io.hiformer.kernels.CpuKernels;
import io.hiformer.model.Batch;
import io.hiformer.model.CpuScorer;
import io.hiformer.model.Hiformer;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.Parameters;
import io.hiformer.proto.ModelInputs;
import io.hiformer.proto.TrainingExample;
import io.hiformer.training.ExampleSet;
import io.hiformer.training.Metrics;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The whole pass on real model files' contents and CSV rows: the same figures as the trainer's
 * own metrics, whatever the thread count; logged examples give what their raw rows give; bad
 * rows, groups that come back and mismatched transforms are reported.
 */
class EvaluationTest {
  static final String SCHEMA = """
      tasks:
        - {name: click, column: clicked}
      fields:
        - {name: user, kind: categorical, side: user}
        - {name: item, kind: categorical, side: item}
        - {name: hour, kind: categorical, side: context}
        - {name: price, kind: dense, side: item, standardize: true}
      """;

  @TempDir
  static Path dir;
  static FeatureSchema schema;
  static Transforms transforms;
  static VerifiedModel a;
  static VerifiedModel b;

  static void writeCsv(Path file, int rows, long seed, String badRow) throws Exception {
    SplittableRandom rnd = new SplittableRandom(seed);
    List<String> lines = new ArrayList<>();
    lines.add("request_id,user,item,hour,price,clicked,country");
    for (int i = 0; i < rows; i++) {
      int user = rnd.nextInt(40);
      int item = rnd.nextInt(30);
      int hour = rnd.nextInt(4);
      boolean click = rnd.nextDouble() < ((user + item) % 3 == 0 ? 0.7 : 0.2);
      // requests of about 5 rows, in order, as a rank log writes them
      lines.add("r" + (i / 5) + ",u" + user + ",i" + item + "," + hour + "," + String.format("%.2f", rnd.nextGaussian() * 10 + 50)
          + "," + (click ? 1 : 0) + "," + (user % 4 == 0 ? "de" : user % 4 == 1 ? "fr" : "us"));
      if (badRow != null && i == rows / 2) {
        lines.add(badRow);
      }
    }
    Files.write(file, lines);
  }

  @BeforeAll
  static void models() throws Exception {
    schema = FeatureSchema.parse(SCHEMA);
    writeCsv(dir.resolve("data.csv"), 3000, 1, null);
    transforms = Transforms.fit(schema, RecordFiles.csv(dir.resolve("data.csv"), BadRows.none()));
    a = model(1, 11, ModelConfig.Variant.HIFORMER);
    b = model(2, 12, ModelConfig.Variant.VANILLA);
  }

  static VerifiedModel model(long version, long seed, ModelConfig.Variant variant) {
    ModelConfig config = new ModelConfig("ctr", 8, 2, 1, transforms.tasks(), 4, 4, 2, List.of(16), 1, true,
        transforms.modelFields()).withVariant(variant);
    return new VerifiedModel("ctr", version, "sha" + version, Parameters.initialize(config, seed), transforms);
  }

  static EvaluationResult evaluate(List<String> files, Evaluation.Options options, BadRows bad) {
    EvalSource source = FileSource.of(files.stream().map(dir::resolve).toList(), schema, dir, a.parameters().config(), bad);
    return Evaluation.run(List.of(a, b), source, options, CpuKernels.scalar(), bad, line -> {});
  }

  static Evaluation.Options options(int threads) {
    return Evaluation.Options.defaults().withBootstrap(100).withThreads(threads).withSlices(List.of("country"));
  }

  /** The trainer's figures: featurize everything into an ExampleSet, score it in file order. */
  static List<Metrics.Task> trainerMetrics(VerifiedModel m) {
    ExampleSet set = new ExampleSet(m.parameters().config());
    Batch batch = new Batch(m.parameters().config(), 4096);
    Featurizer f = new Featurizer(m.transforms());
    for (RawRecord r : RecordFiles.csv(dir.resolve("data.csv"), BadRows.none())) {
      f.add(r, batch);
    }
    set.addAll(batch);
    try (CpuScorer scorer = new CpuScorer(new Hiformer(m.parameters(), CpuKernels.scalar()), 2)) {
      return Metrics.evaluate(scorer, set, 512);
    }
  }

  @Test
  void aucAndLoglossEqualTheTrainersMetricsWithAnyThreadCount() {
    EvaluationResult one = evaluate(List.of("data.csv"), options(1), BadRows.none());
    EvaluationResult three = evaluate(List.of("data.csv"), options(3), BadRows.none());
    assertThat(one.rows()).isEqualTo(3000);
    assertThat(one.groups()).isEqualTo(600);
    assertThat(one.groupBy()).isEqualTo("request_id");
    for (int v = 0; v < 2; v++) {
      Metrics.Task expected = trainerMetrics(v == 0 ? a : b).getFirst();
      for (EvaluationResult r : List.of(one, three)) {
        EvaluationResult.VersionMetrics got = r.overall().tasks().getFirst().versions().get(v);
        assertThat(got.metrics().get("auc")).isEqualTo(expected.auc());
        assertThat(got.metrics().get("logloss")).isCloseTo(expected.logloss(), within(1e-12));
        assertThat(got.aucCoarsening()).isZero();
      }
    }
    // Replicate weights depend on the group, not on which thread summed it.
    for (int i = 0; i < one.overall().tasks().getFirst().deltas().size(); i++) {
      EvaluationResult.Delta x = one.overall().tasks().getFirst().deltas().get(i);
      EvaluationResult.Delta y = three.overall().tasks().getFirst().deltas().get(i);
      assertThat(y.lo()).as(x.metric()).isCloseTo(x.lo(), within(1e-9));
      assertThat(y.hi()).as(x.metric()).isCloseTo(x.hi(), within(1e-9));
      assertThat(y.verdict()).isEqualTo(x.verdict());
    }
    assertThat(one.slices().getFirst().values()).extracting(EvaluationResult.Cell::value)
        .containsExactlyInAnyOrder("de", "fr", "us");
    assertThat(one.slices().getFirst().values().stream().mapToLong(EvaluationResult.Cell::rows).sum()).isEqualTo(3000);
  }

  @Test
  void loggedExamplesScoreLikeTheirRawRows() throws Exception {
    // Log the rows as a ranker would: the inputs featurized by the serving version, ids alongside.
    ModelConfig config = a.parameters().config();
    Batch batch = new Batch(config, 4096);
    Featurizer f = new Featurizer(transforms);
    List<String> requests = new ArrayList<>();
    for (RawRecord r : RecordFiles.csv(dir.resolve("data.csv"), BadRows.none())) {
      f.add(r, batch);
      requests.add(r.value("request_id"));
    }
    List<TrainingExample> examples = new ArrayList<>();
    for (int e = 0; e < batch.size(); e++) {
      ModelInputs.Builder in = ModelInputs.newBuilder();
      for (int c = 0; c < config.categoricalFields().size(); c++) {
        in.addCategoricalIds(batch.categorical(e, c));
      }
      for (int d = 0; d < config.numDense(); d++) {
        in.addDense(batch.dense(e, d));
      }
      examples.add(TrainingExample.newBuilder().setInputs(in).addLabels(batch.label(e, 0)).addLabelMask(true)
          .setRequestId(requests.get(e)).setUserId("u").setModelName("ctr").setModelVersion(1).build());
    }
    ExampleFiles.write(dir.resolve("logged.pb"), examples);

    EvaluationResult raw = evaluate(List.of("data.csv"), options(2).withSlices(List.of()), BadRows.none());
    EvaluationResult logged = evaluate(List.of("logged.pb"), options(2).withSlices(List.of()), BadRows.none());
    assertThat(logged.groupBy()).isEqualTo("request_id");
    assertThat(logged.rows()).isEqualTo(raw.rows());
    assertThat(logged.overall().tasks().getFirst().versions()).usingRecursiveFieldByFieldElementComparator()
        .isEqualTo(raw.overall().tasks().getFirst().versions());

    // Inputs transformed by one version mean nothing to a version with other transforms.
    writeCsv(dir.resolve("few.csv"), 50, 5, null);
    Transforms other = Transforms.fit(schema, RecordFiles.csv(dir.resolve("few.csv"), BadRows.none()));
    ModelConfig otherConfig = new ModelConfig("ctr", 8, 2, 1, other.tasks(), 4, 4, 2, List.of(16), 1, true,
        other.modelFields());
    VerifiedModel c = new VerifiedModel("ctr", 3, "", Parameters.initialize(otherConfig, 3), other);
    FileSource source = FileSource.of(List.of(dir.resolve("logged.pb")), schema, dir, config, BadRows.none());
    assertThatThrownBy(() -> Evaluation.run(List.of(a, c), source, options(1).withSlices(List.of()),
        CpuKernels.scalar(), BadRows.none(),
        line -> {})).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("different feature transforms");
  }

  @Test
  void aBadRowStopsTheRunWithItsLocationUnlessTolerated() throws Exception {
    writeCsv(dir.resolve("bad.csv"), 400, 3, "r9999,u1,i2,3,not-a-price,1,de");
    assertThatThrownBy(() -> evaluate(List.of("bad.csv"), options(2), BadRows.none()))
        .isInstanceOf(BadRowException.class).hasMessageContaining("bad.csv:203").hasMessageContaining("price");

    BadRows tolerant = BadRows.tolerate(1);
    EvaluationResult r = evaluate(List.of("bad.csv"), options(2), tolerant);
    assertThat(r.badRows()).isEqualTo(1);
    assertThat(r.rows()).isEqualTo(400);
  }

  @Test
  void aGroupThatComesBackAfterTheWindowIsAnError() throws Exception {
    // Rows grouped by user, who come back all through the file.
    Evaluation.Options byUser = new Evaluation.Options(100, 0.95, 1, List.of(10), 10, "user", 50, List.of(), 30, 3, 2);
    assertThatThrownBy(() -> evaluate(List.of("data.csv"), byUser, BadRows.none()))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("appears again")
        .hasMessageContaining("user").hasMessageContaining("data.csv:");

    Evaluation.Options open = new Evaluation.Options(100, 0.95, 1, List.of(10), 10, "user", 0, List.of(), 30, 3, 2);
    assertThat(evaluate(List.of("data.csv"), open, BadRows.none()).groups()).isEqualTo(40);
    // Requests are contiguous: a small window closes each as soon as it is done, with the same result.
    Evaluation.Options small = options(2).withSlices(List.of());
    Evaluation.Options windowed = new Evaluation.Options(100, 0.95, 1, List.of(10), 10, null, 20, List.of(), 30, 3, 2);
    assertThat(evaluate(List.of("data.csv"), windowed, BadRows.none()).overall())
        .usingRecursiveComparison().isEqualTo(evaluate(List.of("data.csv"), small, BadRows.none()).overall());
  }
}
