package io.hiformer.ops;

import io.hiformer.features.BadRowException;
import io.hiformer.features.BadRows;
import io.hiformer.features.FeatureSchema;
import io.hiformer.features.VerifiedModel;
import io.hiformer.model.ModelFileException;
import io.hiformer.model.ModelRegistry;
import io.hiformer.training.evaluation.EvalSource;
import io.hiformer.training.evaluation.Evaluation;
import io.hiformer.training.evaluation.EvaluationResult;
import io.hiformer.training.evaluation.FileSource;
import io.hiformer.training.evaluation.TopicSource;
import io.hiformer.training.PassProgress;
import io.hiformer.features.data.ExampleTopic;
import io.hiformer.training.evaluation.Reports;
import io.hiformer.training.evaluation.Requirement;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.NoSuchElementException;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code hiformer evaluate}: offline A/B evaluation of model versions on logged data. */
@Command(name = "evaluate", mixinStandardHelpOptions = true, sortOptions = false,
    description = {
        "Compares model versions on logged data before an online test.",
        "Scores every row with every version through the serving path (the version's feature transforms and",
        "scorer), in one pass, and reports per task and version AUC, log loss, calibration (ECE, predicted/observed",
        "ratio, reliability curve) and ranking metrics by request (GAUC, NDCG@k, MRR); the differences to the first",
        "version with paired bootstrap intervals over requests, p-values and verdicts; the same per slice. Writes",
        "OUT/report.html and OUT/summary.json. Exit code: 0, or 1 when a --require fails, 2 on bad input."})
final class EvaluateCommand implements Callable<Integer> {

  @Option(names = "--registry", required = true, description = "model registry directory")
  Path registry;

  @Option(names = "--model", required = true, description = "model name")
  String model;

  @Option(names = "--versions", required = true, split = ",",
      description = "versions to compare (numbers, aliases or latest); the first is the baseline")
  List<String> versions;

  @Option(names = "--data", split = ",",
      description = "data files, relative to --data-dir: CSV, TSV, libFM (optionally .gz) or TrainingExample .pb files")
  List<String> data = List.of();

  @Option(names = "--examples-topic", paramLabel = "TOPIC",
      description = "instead of --data: the logged examples of this topic in [--from, --to) (needs --bootstrap-servers)")
  String examplesTopic;

  // Not KafkaOptions: evaluate reads the one topic --examples-topic names, so a --topic-prefix would mean nothing.
  @Option(names = "--bootstrap-servers", paramLabel = "HOST:PORT[,...]", description = "Kafka, for --examples-topic")
  String bootstrapServers;

  @Option(names = "--from", defaultValue = "beginning", paramLabel = "BOUND",
      description = "first example of --examples-topic: beginning, end, a time (2025-03-01T00:00:00Z) or offsets per"
          + " partition (0:1200,1:1185) (default: ${DEFAULT-VALUE})")
  String from;

  @Option(names = "--to", defaultValue = "end", paramLabel = "BOUND",
      description = "end (exclusive) of --examples-topic, as --from (default: ${DEFAULT-VALUE})")
  String to;

  @Option(names = "--data-dir", defaultValue = ".", description = "directory of the data files and joined tables (default: ${DEFAULT-VALUE})")
  Path dataDir;

  @Option(names = "--schema", description = "feature schema: its side tables are joined onto raw rows, its libFM layout read")
  Path schema;

  @Option(names = "--out", required = true, description = "directory for report.html and summary.json")
  Path out;

  @Option(names = "--require", description = "gate, repeatable or comma-separated: [TASK:]METRIC[.lo|.hi|.p] OP NUMBER "
      + "on (version - baseline), e.g. auc>=+0.001, auc.lo>=0, logloss.hi<0, auc.p<=0.05")
  List<String> require = new ArrayList<>();

  @Option(names = "--group-by", description = "column grouping rows into requests (default: request_id if present, else the user field)")
  String groupBy;

  @Option(names = "--slices", split = ",", description = "columns to slice by, e.g. country,category")
  List<String> slices = new ArrayList<>();

  @Option(names = "--slice-values", defaultValue = "30", description = "values per slice column with their own row, in order seen (default: ${DEFAULT-VALUE})")
  int sliceValues;

  @Option(names = "--movers", defaultValue = "3", description = "slice values flagged as largest movers per column (default: ${DEFAULT-VALUE})")
  int movers;

  @Option(names = "--ndcg-at", defaultValue = "10", split = ",", description = "cut-offs of NDCG@k (default: ${DEFAULT-VALUE})")
  List<Integer> ndcgAt;

  @Option(names = "--calibration-bins", defaultValue = "10", description = "equal-width bins of ECE and the reliability curve (default: ${DEFAULT-VALUE})")
  int calibrationBins;

  @Option(names = "--bootstrap", defaultValue = "500", description = "bootstrap replicates (default: ${DEFAULT-VALUE})")
  int bootstrap;

  @Option(names = "--confidence", defaultValue = "0.95", description = "confidence of the intervals (default: ${DEFAULT-VALUE})")
  double confidence;

  @Option(names = "--seed", defaultValue = "1", description = "seed of the bootstrap (default: ${DEFAULT-VALUE})")
  long seed;

  @Option(names = "--group-window", defaultValue = "1000000",
      description = "rows after which an idle group is closed; 0 keeps all open to the end (default: ${DEFAULT-VALUE})")
  long groupWindow;

  @Option(names = "--threads", description = "worker threads (default: all processors)")
  Integer threads;

  @Option(names = "--kernels", defaultValue = "auto", description = "CPU kernels: ${COMPLETION-CANDIDATES}")
  KernelChoice kernels;

  @Option(names = "--max-bad-rows", defaultValue = "0", description = "skip and count up to this many bad rows, then stop")
  long maxBadRows;

  @Override
  public Integer call() {
    EvaluationResult result;
    List<Requirement> requirements = new ArrayList<>();
    BadRows bad = BadRows.tolerate(Math.max(0, maxBadRows));
    try {
      if (maxBadRows < 0) {
        throw new IllegalArgumentException("--max-bad-rows must not be negative, got " + maxBadRows);
      }
      for (String r : require) {
        requirements.addAll(Requirement.parse(r));
      }
      Evaluation.Options options = new Evaluation.Options(bootstrap, confidence, seed, ndcgAt, calibrationBins, groupBy,
          groupWindow, slices, sliceValues, movers, threads == null ? Runtime.getRuntime().availableProcessors() : threads);
      if (!requirements.isEmpty() && versions.size() < 2) {
        throw new IllegalArgumentException("--require compares versions: give at least two in --versions");
      }
      ModelRegistry reg = ModelRegistry.open(registry);
      List<VerifiedModel> models = new ArrayList<>();
      for (String v : versions) {
        models.add(VerifiedModel.load(reg, model, v.trim()));
      }
      List<String> tasks = models.getFirst().parameters().config().tasks();
      for (Requirement r : requirements) {
        r.validate(Evaluation.metricNames(options), tasks);
      }
      FeatureSchema parsed = schema == null ? null : FeatureSchema.parse(Files.readString(schema));
      EvalSource source = source(parsed, models.getFirst().parameters().config(), bad);
      var console = System.console();
      PassProgress bar = new PassProgress(System.err, console != null && console.isTerminal(), "evaluating", "rows",
          source.size());
      result = Evaluation.run(models, source, options, kernels.kernels(), bad, System.err::println, bar);
    } catch (IllegalArgumentException | IllegalStateException | NoSuchElementException | BadRowException
        | ModelFileException | UncheckedIOException | IOException | org.apache.kafka.common.KafkaException e) {
      System.err.println("error: " + e.getMessage());
      return 2;
    }
    List<Requirement.Check> checks = new ArrayList<>();
    for (Requirement r : requirements) {
      checks.addAll(r.check(result));
    }
    try {
      Reports.write(result, checks, out);
    } catch (IOException e) {
      System.err.println("error: cannot write the report to " + out + ": " + e.getMessage());
      return 2;
    }
    print(result, checks);
    if (bad.count() > 0) {
      BadRowException first = bad.first();
      System.out.printf(Locale.ROOT, "skipped %,d bad rows; first at %s: %s%n", bad.count(), first.location(),
          first.reason());
    }
    System.out.println("report: " + out.resolve(Reports.HTML) + ", " + out.resolve(Reports.SUMMARY));
    return checks.stream().allMatch(Requirement.Check::passed) ? 0 : 1;
  }

  /** Files, or a range of the examples topic; exactly one. */
  private EvalSource source(FeatureSchema parsed, io.hiformer.model.ModelConfig logged, BadRows bad) {
    if ((examplesTopic == null) == data.isEmpty()) {
      throw new IllegalArgumentException("give either --data FILES or --examples-topic TOPIC (with --bootstrap-servers,"
          + " --from and --to)");
    }
    if (examplesTopic == null) {
      return FileSource.of(data.stream().map(dataDir::resolve).toList(), parsed, dataDir, logged, bad);
    }
    if (bootstrapServers == null) {
      throw new IllegalArgumentException("--examples-topic needs --bootstrap-servers");
    }
    return TopicSource.of(bootstrapServers, examplesTopic, ExampleTopic.Bound.parse(from), ExampleTopic.Bound.parse(to),
        logged, bad);
  }

  private static void print(EvaluationResult r, List<Requirement.Check> checks) {
    System.out.printf(Locale.ROOT, "%s: %,d rows, %,d groups by %s%s%n", r.data(), r.rows(), r.groups(), r.groupBy(),
        r.badRows() == 0 ? "" : String.format(Locale.ROOT, ", %,d bad rows skipped", r.badRows()));
    for (EvaluationResult.TaskTable t : r.overall().tasks()) {
      StringBuilder head = new StringBuilder(String.format(Locale.ROOT, "%-10s", t.task()));
      for (EvaluationResult.VersionMetrics v : t.versions()) {
        head.append(String.format(Locale.ROOT, " %12s", v.version()));
      }
      System.out.println(head);
      for (EvaluationResult.Metric m : r.metrics()) {
        StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "%-10s", m.name()));
        for (EvaluationResult.VersionMetrics v : t.versions()) {
          line.append(String.format(Locale.ROOT, " %12.6f", v.metrics().get(m.name())));
        }
        for (EvaluationResult.Delta d : t.deltas()) {
          if (d.metric().equals(m.name())) {
            line.append(String.format(Locale.ROOT, "   %s %+.6f [%+.6f, %+.6f] p=%.4f %s", d.version(), d.delta(), d.lo(),
                d.hi(), d.p(), d.verdict().text()));
          }
        }
        System.out.println(line);
      }
    }
    for (Requirement.Check c : checks) {
      System.out.printf(Locale.ROOT, "require %s: %s %s = %.6g: %s%n", c.requirement().text(), c.version(), c.task(),
          c.actual(), c.passed() ? "pass" : "FAIL");
    }
  }
}
