package io.hiformer.training;

import java.util.Arrays;

/** Exact ROC AUC with ties counted as one half (the Mann-Whitney U statistic). */
public final class Auc {
  private Auc() {}

  /**
   * AUC of {@code scores} against 0/1 {@code labels}; NaN when one class is absent or a score is
   * not finite (a ranking of NaN or infinite scores says nothing about the model).
   */
  public static double of(float[] scores, float[] labels, int n) {
    for (int i = 0; i < n; i++) {
      if (!Float.isFinite(scores[i])) {
        return Double.NaN;
      }
    }
    Integer[] order = new Integer[n];
    for (int i = 0; i < n; i++) {
      order[i] = i;
    }
    Arrays.sort(order, (a, b) -> Float.compare(scores[a], scores[b]));
    double rankSumPositive = 0;
    long positives = 0;
    int i = 0;
    while (i < n) {
      int j = i;
      while (j + 1 < n && scores[order[j + 1]] == scores[order[i]]) {
        j++;
      }
      double midRank = (i + j) / 2.0 + 1;  // ranks are 1-based; ties share their mean rank
      for (int k = i; k <= j; k++) {
        if (labels[order[k]] > 0.5f) {
          rankSumPositive += midRank;
          positives++;
        }
      }
      i = j + 1;
    }
    long negatives = n - positives;
    if (positives == 0 || negatives == 0) {
      return Double.NaN;
    }
    return (rankSumPositive - positives * (positives + 1) / 2.0) / ((double) positives * negatives);
  }
}
