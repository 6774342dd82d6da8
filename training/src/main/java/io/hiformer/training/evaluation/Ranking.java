package io.hiformer.training.evaluation;

import java.util.Arrays;

/**
 * Ranking metrics of one group (a request, or a user): AUC within the group, NDCG@k and the
 * reciprocal rank of the first positive. A row is positive when its label is above 0.5 (as for
 * AUC); NDCG's gain is the label itself, so graded labels in [0, 1] count by their value.
 *
 * <p>Ties are resolved by expectation over their orders, never by input order: a block of rows
 * with equal scores shares its gains evenly over the positions it covers (tie-aware DCG, McSherry
 * and Najork 2008), counts one half for AUC, and gives the reciprocal rank of the first positive
 * its expected value. Reuses its buffers; one per thread.
 */
final class Ranking {
  private long[] order = new long[16];
  private float[] sortedLabels = new float[16];
  private float[] z;
  private float[] y;
  private int n;

  /** Takes the group's {@code n} scores and labels (not copied: keep them until done). */
  void set(float[] scores, float[] labels, int count) {
    if (order.length < count) {
      order = new long[Math.max(count, order.length * 2)];
      sortedLabels = new float[order.length];
    }
    this.z = scores;
    this.y = labels;
    this.n = count;
    for (int i = 0; i < count; i++) {
      order[i] = ((long) ScoreTable.sortable(scores[i]) << 32) | i;
    }
    Arrays.sort(order, 0, count);
  }

  private int row(int rankAscending) {
    return (int) (order[rankAscending] & 0xffffffffL);
  }

  /** The group's AUC, ties one half; NaN unless it has both a positive and a negative. */
  double auc() {
    long positives = 0;
    long twiceConcordant = 0;
    long negativesBelow = 0;
    int i = 0;
    while (i < n) {
      int j = blockEnd(i);
      long p = 0;
      long m = 0;
      for (int r = i; r < j; r++) {
        if (y[row(r)] > 0.5f) {
          p++;
        } else {
          m++;
        }
      }
      twiceConcordant += p * (2 * negativesBelow + m);
      positives += p;
      negativesBelow += m;
      i = j;
    }
    if (positives == 0 || negativesBelow == 0) {
      return Double.NaN;
    }
    return twiceConcordant / (2.0 * positives * negativesBelow);
  }

  /** End (exclusive) of the block of equal scores starting at ascending rank {@code i}. */
  private int blockEnd(int i) {
    int j = i + 1;
    while (j < n && z[row(j)] == z[row(i)]) {
      j++;
    }
    return j;
  }

  /**
   * NDCG at {@code k}: the DCG of the order by descending score, gains {@code label} discounted by
   * {@code 1 / log2(position + 1)}, over the DCG of the best order. NaN when every label is 0.
   */
  double ndcg(int k) {
    for (int i = 0; i < n; i++) {
      sortedLabels[i] = y[i];
    }
    Arrays.sort(sortedLabels, 0, n);
    double ideal = 0;
    for (int pos = 0; pos < Math.min(k, n); pos++) {
      ideal += sortedLabels[n - 1 - pos] / log2(pos + 2);
    }
    if (ideal == 0) {
      return Double.NaN;
    }
    double dcg = 0;
    int pos = 0;
    int end = n;
    while (end > 0 && pos < k) {
      int start = blockStart(end);
      double gain = 0;
      for (int r = start; r < end; r++) {
        gain += y[row(r)];
      }
      gain /= end - start;
      for (int p = pos; p < Math.min(k, pos + end - start); p++) {
        dcg += gain / log2(p + 2);
      }
      pos += end - start;
      end = start;
    }
    return dcg / ideal;
  }

  /** Start of the block of equal scores ending (exclusive) at ascending rank {@code end}. */
  private int blockStart(int end) {
    int i = end - 1;
    while (i > 0 && z[row(i - 1)] == z[row(end - 1)]) {
      i--;
    }
    return i;
  }

  /**
   * {@code 1 / rank} of the first positive in descending score order, its expectation when that
   * positive is tied with others; NaN when the group has no positive.
   */
  double reciprocalRank() {
    int pos = 0;
    int end = n;
    while (end > 0) {
      int start = blockStart(end);
      int m = end - start;
      int r = 0;
      for (int i = start; i < end; i++) {
        if (y[row(i)] > 0.5f) {
          r++;
        }
      }
      if (r > 0) {
        // The first positive of the block sits at offset x with P = C(m-1-x, r-1) / C(m, r).
        double expected = 0;
        double noneYet = 1;
        for (int x = 0; x <= m - r; x++) {
          double first = noneYet * r / (m - x);
          expected += first / (pos + x + 1);
          noneYet *= (double) (m - x - r) / (m - x);
        }
        return expected;
      }
      pos += m;
      end = start;
    }
    return Double.NaN;
  }

  private static double log2(int x) {
    return Math.log(x) / Math.log(2);
  }
}
