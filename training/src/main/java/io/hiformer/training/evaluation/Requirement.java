package io.hiformer.training.evaluation;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A gate on the difference between each challenger version and the baseline, for pipelines:
 * {@code [TASK:]METRIC[.lo|.hi|.p] OP NUMBER}, e.g. {@code auc>=+0.001} (the AUC difference is at
 * least 0.001), {@code auc.lo>=0} (the interval's lower bound is at least 0: at the chosen
 * confidence the AUC is not lower), {@code logloss.hi<0} (significantly lower log loss),
 * {@code click:ndcg@10>=-0.002} or {@code auc.p<=0.05}. OP is {@code >=}, {@code <=}, {@code >} or
 * {@code <}. Without a task it applies to every task; every challenger must pass it. A difference
 * that is undefined (NaN) fails.
 */
public record Requirement(String text, String task, String metric, Part part, String op, double value) {
  private static final Pattern SYNTAX = Pattern.compile(
      "(?:([^:\\s]+):)?([a-z]+(?:@\\d+)?)(?:\\.(lo|hi|p))?\\s*(>=|<=|>|<)\\s*([+-]?(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][+-]?\\d+)?)");

  /** Which figure of the difference is compared: the point, the interval's ends, or the p-value. */
  public enum Part { DELTA, LO, HI, P }

  /** One requirement on one (challenger, task), with the figure it was checked against. */
  public record Check(Requirement requirement, String version, String task, double actual, boolean passed) {}

  /** Parses a comma-separated list; an IllegalArgumentException names the entry it cannot read. */
  public static List<Requirement> parse(String spec) {
    List<Requirement> out = new ArrayList<>();
    for (String part : spec.split(",")) {
      String text = part.trim();
      if (text.isEmpty()) {
        continue;
      }
      Matcher m = SYNTAX.matcher(text);
      if (!m.matches()) {
        throw new IllegalArgumentException("requirement '" + text + "' is not [TASK:]METRIC[.lo|.hi|.p] OP NUMBER, "
            + "e.g. auc>=+0.001, auc.lo>=0, logloss.hi<0 or click:ndcg@10>=-0.002");
      }
      Part which = m.group(3) == null ? Part.DELTA : Part.valueOf(m.group(3).toUpperCase(Locale.ROOT));
      out.add(new Requirement(text, m.group(1), m.group(2), which, m.group(4), Double.parseDouble(m.group(5))));
    }
    return out;
  }

  /** Throws IllegalArgumentException when the metric or task is not among those evaluated. */
  public void validate(List<String> metrics, List<String> tasks) {
    if (!metrics.contains(metric)) {
      throw new IllegalArgumentException("requirement '" + text + "': no metric '" + metric + "'; metrics are "
          + metrics);
    }
    if (task != null && !tasks.contains(task)) {
      throw new IllegalArgumentException("requirement '" + text + "': no task '" + task + "'; tasks are " + tasks);
    }
  }

  /** Checks this requirement for every challenger and task it applies to. */
  public List<Check> check(EvaluationResult result) {
    List<Check> out = new ArrayList<>();
    for (String t : result.tasks()) {
      if (task != null && !task.equals(t)) {
        continue;
      }
      for (EvaluationResult.ModelVersion v : result.versions().subList(1, result.versions().size())) {
        EvaluationResult.Delta d = result.delta(t, v.label(), metric);
        double actual = d == null ? Double.NaN : switch (part) {
          case DELTA -> d.delta();
          case LO -> d.lo();
          case HI -> d.hi();
          case P -> d.p();
        };
        boolean passed = !Double.isNaN(actual) && switch (op) {
          case ">=" -> actual >= value;
          case "<=" -> actual <= value;
          case ">" -> actual > value;
          default -> actual < value;
        };
        out.add(new Check(this, v.label(), t, actual, passed));
      }
    }
    return out;
  }
}
