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

  public static List<Task> evaluate(Scorer scorer, ExampleSet data, int batchSize) {
    List<String> names = scorer.model().config().tasks();
    int t = names.size();
    float[] logits = new float[data.size() * t];
    float[] chunk = new float[batchSize * t];
    int at = 0;
    for (Batch b : data.batches(batchSize, false, 0)) {
      scorer.score(b, chunk);
      System.arraycopy(chunk, 0, logits, at * t, b.size() * t);
      at += b.size();
    }
    List<Task> out = new ArrayList<>();
    for (int j = 0; j < t; j++) {
      int n = 0;
      for (int e = 0; e < data.size(); e++) {
        if (data.labelMask(e, j) != 0) {
          n++;
        }
      }
      float[] scores = new float[n];
      float[] labels = new float[n];
      double loss = 0;
      int k = 0;
      for (int e = 0; e < data.size(); e++) {
        if (data.labelMask(e, j) != 0) {
          double z = logits[e * t + j];
          double y = data.label(e, j);
          loss += Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));
          scores[k] = (float) z;
          labels[k++] = (float) y;
        }
      }
      out.add(new Task(names.get(j), Auc.of(scores, labels, n), n == 0 ? Double.NaN : loss / n, n));
    }
    return out;
  }
}
