package io.hiformer.training;

import io.hiformer.model.Batch;
import io.hiformer.model.CpuScorer;
import java.util.ArrayList;
import java.util.List;

/** Per-task AUC (exact, tie-aware) and log loss of a model over a data set, labelled examples only. */
public final class Metrics {

  /** One task's figures over {@code count} labelled examples, {@code positives} of them positive. */
  public record Task(String task, double auc, double logloss, long count, long positives) {
    /** Whether the AUC is a number: both classes present and every score finite. */
    boolean aucDefined() {
      return !Double.isNaN(auc);
    }

    /** Why the AUC is undefined, for messages and reports; null when it is defined. */
    String aucUndefinedReason() {
      if (aucDefined()) {
        return null;
      }
      if (count == 0) {
        return "no labelled examples";
      }
      if (positives == 0 || positives == count) {
        return "no " + (positives == 0 ? "positive" : "negative") + " labels in " + count + " examples";
      }
      return "non-finite scores";
    }
  }

  private Metrics() {}

  /** Scores {@code data} in stored order, one pass; holds one logit and label per example. */
  public static List<Task> evaluate(CpuScorer scorer, ExampleSource data, int batchSize) {
    List<String> names = scorer.model().config().tasks();
    int t = names.size();
    if (data.count() * t > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException("too many examples to hold their scores: " + data.count()
          + "; evaluate larger sets with `hiformer evaluate`");
    }
    int size = (int) data.count();
    float[] logits = new float[size * t];
    float[] labels = new float[size * t];
    boolean[] known = new boolean[size * t];
    float[] chunk = new float[batchSize * t];
    int at = 0;
    for (Batch b : data.batches(batchSize, false, 0)) {
      scorer.score(b, chunk);
      System.arraycopy(chunk, 0, logits, at * t, b.size() * t);
      for (int e = 0; e < b.size(); e++) {
        for (int j = 0; j < t; j++) {
          labels[(at + e) * t + j] = b.label(e, j);
          known[(at + e) * t + j] = b.labelMask(e, j) != 0;
        }
      }
      at += b.size();
    }
    List<Task> out = new ArrayList<>();
    for (int j = 0; j < t; j++) {
      int n = 0;
      for (int e = 0; e < size; e++) {
        if (known[e * t + j]) {
          n++;
        }
      }
      float[] scores = new float[n];
      float[] ys = new float[n];
      double loss = 0;
      int k = 0;
      long positives = 0;
      for (int e = 0; e < size; e++) {
        if (known[e * t + j]) {
          double z = logits[e * t + j];
          double y = labels[e * t + j];
          loss += Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));
          positives += y > 0.5 ? 1 : 0;
          scores[k] = (float) z;
          ys[k++] = (float) y;
        }
      }
      out.add(new Task(names.get(j), Auc.of(scores, ys, n), n == 0 ? Double.NaN : loss / n, n, positives));
    }
    return out;
  }

  /**
   * The mean AUC over the tasks where it is defined ({@link Task#aucDefined}); NaN when it is
   * defined for none. A task without positives must not make the whole score NaN.
   */
  static double meanAuc(List<Task> metrics) {
    double sum = 0;
    int n = 0;
    for (Task t : metrics) {
      if (t.aucDefined()) {
        sum += t.auc();
        n++;
      }
    }
    return n == 0 ? Double.NaN : sum / n;
  }

  /** The mean log loss over the tasks with labelled examples; NaN when none has any. */
  static double meanLogloss(List<Task> metrics) {
    double sum = 0;
    int n = 0;
    for (Task t : metrics) {
      if (t.count() > 0) {
        sum += t.logloss();
        n++;
      }
    }
    return n == 0 ? Double.NaN : sum / n;
  }
}
