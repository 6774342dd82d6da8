package io.hiformer.training.evaluation;

import io.hiformer.training.evaluation.EvaluationResult.Cell;
import io.hiformer.training.evaluation.EvaluationResult.Curves;
import io.hiformer.training.evaluation.EvaluationResult.Delta;
import io.hiformer.training.evaluation.EvaluationResult.Direction;
import io.hiformer.training.evaluation.EvaluationResult.Metric;
import io.hiformer.training.evaluation.EvaluationResult.TaskTable;
import io.hiformer.training.evaluation.EvaluationResult.Verdict;
import io.hiformer.training.evaluation.EvaluationResult.VersionMetrics;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Turns the summed accumulators into metric tables, differences and verdicts. */
final class Results {
  private static final int ROC_POINTS = 400;
  /** Fewer groups give no interval: a bootstrap over a handful of groups understates the uncertainty. */
  static final int MIN_GROUPS = 10;

  private final List<EvaluationResult.ModelVersion> versions;
  private final List<String> tasks;
  private final Evaluation.Options options;
  private final List<Evaluation.SliceValues> sliceValues;
  private final List<Metric> metrics;

  Results(List<EvaluationResult.ModelVersion> versions, List<String> tasks, Evaluation.Options options,
      List<Evaluation.SliceValues> sliceValues) {
    this.versions = versions;
    this.tasks = tasks;
    this.options = options;
    this.sliceValues = sliceValues;
    this.metrics = MetricSet.of(options.ndcgArray());
  }

  EvaluationResult build(Aggregator all, String data, String groupBy, long badRows, double seconds) {
    Aggregator.Cell overallCell = all.cells().get(Aggregator.OVERALL);
    Cell overall = cell(null, null, overallCell, true);
    List<EvaluationResult.SliceField> slices = new ArrayList<>();
    for (int f = 0; f < sliceValues.size(); f++) {
      Evaluation.SliceValues sv = sliceValues.get(f);
      List<Cell> values = new ArrayList<>();
      for (int id = 0; id < sv.names.size(); id++) {
        Aggregator.Cell c = all.cells().get(((long) f << 32) | id);
        if (c != null) {
          values.add(cell(sv.column, sv.names.get(id), c, false));
        }
      }
      values.sort(Comparator.comparingLong(Cell::rows).reversed());
      slices.add(new EvaluationResult.SliceField(sv.column, flagMovers(values), sv.capped));
    }
    return new EvaluationResult(versions, tasks, metrics, data, groupBy, overallCell.rows, overallCell.groups, badRows,
        seconds, options, overall, slices);
  }

  /**
   * Marks the values with the largest absolute first-task AUC difference (first challenger) among
   * those with an interval.
   */
  private List<Cell> flagMovers(List<Cell> values) {
    if (versions.size() < 2) {
      return values;
    }
    List<Cell> ranked = new ArrayList<>(values);
    ranked.removeIf(c -> Double.isNaN(c.tasks().getFirst().deltas().getFirst().lo()));
    ranked.sort(Comparator.comparingDouble((Cell c) -> Math.abs(c.tasks().getFirst().deltas().getFirst().delta()))
        .reversed());
    Set<String> movers = new HashSet<>();
    ranked.subList(0, Math.min(options.movers(), ranked.size())).forEach(c -> movers.add(c.value()));
    return values.stream().map(c -> movers.contains(c.value())
        ? new Cell(c.field(), c.value(), c.rows(), c.groups(), c.tasks(), true) : c).toList();
  }

  private Cell cell(String field, String value, Aggregator.Cell c, boolean curves) {
    List<TaskTable> tables = new ArrayList<>();
    for (int t = 0; t < tasks.size(); t++) {
      List<VersionMetrics> perVersion = new ArrayList<>();
      double[][] points = new double[versions.size()][];
      double[][][] replicates = new double[versions.size()][][];
      for (int v = 0; v < versions.size(); v++) {
        Accumulator a = c.accumulators[v * tasks.size() + t];
        points[v] = a.point();
        replicates[v] = a.replicates();
        Map<String, Double> named = new LinkedHashMap<>();
        for (int m = 0; m < metrics.size(); m++) {
          named.put(metrics.get(m).name(), points[v][m]);
        }
        perVersion.add(new VersionMetrics(versions.get(v).label(), a.rows, a.positives, a.groups, named,
            a.scores.shift(), curves ? curves(a) : null));
      }
      List<Delta> deltas = new ArrayList<>();
      for (int v = 1; v < versions.size(); v++) {
        for (int m = 0; m < metrics.size(); m++) {
          long groups = c.accumulators[t].groups;
          deltas.add(delta(v, metrics.get(m), points[0][m], points[v][m], replicates[0][m], replicates[v][m], groups));
        }
      }
      tables.add(new TaskTable(tasks.get(t), perVersion, deltas));
    }
    return new Cell(field, value, c.rows, c.groups, tables, false);
  }

  private Delta delta(int v, Metric metric, double base, double value, double[] baseReps, double[] reps,
      long groups) {
    if (groups < MIN_GROUPS) {
      return new Delta(versions.get(v).label(), versions.getFirst().label(), metric.name(), base, value, value - base,
          Double.NaN, Double.NaN, Double.NaN, Verdict.TOO_FEW_GROUPS);
    }
    double[] diff = new double[reps.length];
    for (int b = 0; b < reps.length; b++) {
      diff[b] = reps[b] - baseReps[b];
    }
    Bootstrap.Interval interval = Bootstrap.interval(value - base, diff, options.confidence());
    Bootstrap.Interval judged = interval;
    Direction direction = metric.direction();
    if (direction == Direction.TOWARDS_ONE) {
      // Judge the distance to 1: lower is better.
      double[] away = new double[reps.length];
      for (int b = 0; b < reps.length; b++) {
        away[b] = Math.abs(reps[b] - 1) - Math.abs(baseReps[b] - 1);
      }
      judged = Bootstrap.interval(Math.abs(value - 1) - Math.abs(base - 1), away, options.confidence());
      direction = Direction.LOWER;
    }
    Verdict verdict;
    if (Double.isNaN(judged.lo())) {
      verdict = Verdict.UNDEFINED;
    } else if (judged.lo() > 0) {
      verdict = direction == Direction.HIGHER ? Verdict.BETTER : Verdict.WORSE;
    } else if (judged.hi() < 0) {
      verdict = direction == Direction.HIGHER ? Verdict.WORSE : Verdict.BETTER;
    } else {
      verdict = Verdict.NO_SIGNIFICANT_DIFFERENCE;
    }
    return new Delta(versions.get(v).label(), versions.getFirst().label(), metric.name(), base, value, value - base,
        interval.lo(), interval.hi(), judged.p(), verdict);
  }

  private static Curves curves(Accumulator a) {
    ScoreTable.Sorted s = a.scores.sorted();
    long p = s.positives();
    long n = s.negatives();
    int distinct = s.score().length;
    int step = Math.max(1, distinct / ROC_POINTS);
    List<double[]> roc = new ArrayList<>();
    roc.add(new double[] {0, 0});
    long tp = 0;
    long fp = 0;
    // From the highest score down: each threshold admits one more distinct score.
    for (int i = distinct - 1, k = 0; i >= 0; i--, k++) {
      tp += s.pos()[i];
      fp += s.neg()[i];
      if (k % step == step - 1 || i == 0) {
        roc.add(new double[] {n == 0 ? 0 : (double) fp / n, p == 0 ? 0 : (double) tp / p});
      }
    }
    double[] fpr = roc.stream().mapToDouble(x -> x[0]).toArray();
    double[] tpr = roc.stream().mapToDouble(x -> x[1]).toArray();
    List<Integer> bins = new ArrayList<>();
    for (int c = 0; c < a.calibrationCount.length; c++) {
      if (a.calibrationCount[c] > 0) {
        bins.add(c);
      }
    }
    double[] predicted = bins.stream().mapToDouble(c -> a.calibrationP[c] / a.calibrationCount[c]).toArray();
    double[] observed = bins.stream().mapToDouble(c -> a.calibrationY[c] / a.calibrationCount[c]).toArray();
    long[] counts = bins.stream().mapToLong(c -> a.calibrationCount[c]).toArray();
    return new Curves(fpr, tpr, predicted, observed, counts, a.histogramPos.clone(), a.histogramNeg.clone());
  }
}
