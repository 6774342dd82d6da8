package io.hiformer.training.evaluation;

import java.util.List;
import java.util.Map;

/**
 * What an evaluation found: per task and version the metrics, between each version and the first
 * (the baseline) the differences with bootstrap intervals, p-values and verdicts, overall and per
 * slice. Rendered by {@link Reports} as {@code summary.json} and an HTML page.
 *
 * @param versions the versions compared; the first is the baseline of every difference
 * @param tasks the tasks every version has, in the baseline's order
 * @param metrics the metrics of every table, in order
 * @param data where the rows came from
 * @param groupBy what groups rows into requests (the column or field)
 * @param rows rows scored (bad rows excluded)
 * @param groups distinct groups
 * @param badRows rows skipped as bad
 * @param seconds wall time of the pass
 * @param overall every row
 * @param slices per slice field, its values (most rows first)
 */
public record EvaluationResult(List<ModelVersion> versions, List<String> tasks, List<Metric> metrics, String data,
    String groupBy, long rows, long groups, long badRows, double seconds, Evaluation.Options options, Cell overall,
    List<SliceField> slices) {

  /** One evaluated model version; {@code label} ("v3") names it in tables. */
  public record ModelVersion(String model, long version, String label, String sha256, String variant) {}

  /** Which way a metric is better; {@code TOWARDS_ONE}: closer to 1 (the predicted/observed ratio). */
  public enum Direction { HIGHER, LOWER, TOWARDS_ONE }

  public record Metric(String name, Direction direction) {}

  public enum Verdict {
    BETTER("better"), WORSE("worse"), NO_SIGNIFICANT_DIFFERENCE("no significant difference"),
    /** Fewer groups than {@link Results#MIN_GROUPS}: resampling them says nothing about the uncertainty. */
    TOO_FEW_GROUPS("too few groups"),
    /** The metric is undefined on these rows (e.g. no positives). */
    UNDEFINED("undefined");

    private final String text;

    Verdict(String text) {
      this.text = text;
    }

    public String text() {
      return text;
    }
  }

  /**
   * The rows of one slice value (or all rows: field and value null). {@code mover}: among the
   * field's largest movers by the first task's AUC difference (of values with enough groups for an
   * interval).
   */
  public record Cell(String field, String value, long rows, long groups, List<TaskTable> tasks, boolean mover) {}

  public record TaskTable(String task, List<VersionMetrics> versions, List<Delta> deltas) {}

  /**
   * One version's metrics on one task: {@code rows} with a label, {@code positives} of them,
   * {@code groups} with at least one. {@code aucCoarsening}: 0 when the AUC is exact, else the
   * mantissa bits its scores were rounded by (see {@code ScoreTable}). {@code curves} only overall.
   */
  public record VersionMetrics(String version, long rows, long positives, long groups, Map<String, Double> metrics,
      int aucCoarsening, Curves curves) {}

  /**
   * Version minus baseline for one metric, with the bootstrap interval, p-value and verdict. For
   * the predicted/observed ratio the interval is that of the difference, while the p-value and
   * verdict judge {@code |ratio - 1|}.
   */
  public record Delta(String version, String baseline, String metric, double baselineValue, double value, double delta,
      double lo, double hi, double p, Verdict verdict) {}

  /**
   * ROC (false and true positive rates, from (0, 0) to (1, 1)), the reliability curve (per
   * non-empty probability bin: mean prediction, observed rate, rows) and histograms of the
   * predicted probability of positives and negatives on equal-width bins of [0, 1].
   */
  public record Curves(double[] rocFpr, double[] rocTpr, double[] reliabilityPredicted,
      double[] reliabilityObserved, long[] reliabilityRows, long[] histogramPositive, long[] histogramNegative) {}

  /** A slice field's values; {@code capped}: values beyond the cap were pooled into "(other)". */
  public record SliceField(String field, List<Cell> values, boolean capped) {}

  /** The overall difference of {@code version} to the baseline on a task and metric; null if there is none. */
  public Delta delta(String task, String version, String metric) {
    for (TaskTable t : overall.tasks()) {
      if (t.task().equals(task)) {
        for (Delta d : t.deltas()) {
          if (d.version().equals(version) && d.metric().equals(metric)) {
            return d;
          }
        }
      }
    }
    return null;
  }
}
