package io.hiformer.training;

import io.hiformer.model.Batch;
import io.hiformer.model.Scorer;
import java.util.ArrayList;
import java.util.List;

/** Per-task AUC (exact, tie-aware) and log loss of a model over a data set, labelled examples only. */
public final class Metrics {

  /** One task's figures over {@code count} labelled examples. */
  public record Task(String task, double auc, double logloss, long count) {}

  private Metrics() {}

  /** Scores {@code data} in stored order, one pass; holds one logit and label per example. */
  public static List<Task> evaluate(Scorer scorer, ExampleSource data, int batchSize) {
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
      for (int e = 0; e < size; e++) {
        if (known[e * t + j]) {
          double z = logits[e * t + j];
          double y = labels[e * t + j];
          loss += Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));
          scores[k] = (float) z;
          ys[k++] = (float) y;
        }
      }
      out.add(new Task(names.get(j), Auc.of(scores, ys, n), n == 0 ? Double.NaN : loss / n, n));
    }
    return out;
  }
}
