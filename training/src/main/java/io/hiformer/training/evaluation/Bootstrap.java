package io.hiformer.training.evaluation;

import java.util.Arrays;

/**
 * The paired group bootstrap, streamed: replicate {@code b} counts each group (request or user)
 * {@code w ~ Poisson(1)} times, with {@code w} a function of the group's id, the seed and
 * {@code b} only. Every version sees the same weights (paired), all rows of a group share them
 * (groups are resampled, not rows) and no pass over the data is repeated: each replicate's sums
 * grow as the rows stream by. This is the Poisson bootstrap of Hanley and MacGibbon (2006) and
 * Chamandy et al. (2012), which approximates the multinomial resampling of groups.
 */
final class Bootstrap {
  private static final double[] POISSON_CDF = new double[16];

  static {
    double term = Math.exp(-1);
    double sum = 0;
    for (int k = 0; k < POISSON_CDF.length; k++) {
      sum += term;
      POISSON_CDF[k] = sum;
      term /= k + 1;
    }
  }

  private Bootstrap() {}

  /** A 64-bit hash of a group id (FNV-1a over its chars, then a finaliser that spreads the bits). */
  static long hash(String key) {
    long h = 0xcbf29ce484222325L;
    for (int i = 0; i < key.length(); i++) {
      h = (h ^ key.charAt(i)) * 0x100000001b3L;
    }
    return mix(h);
  }

  static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
    z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
    return z ^ (z >>> 31);
  }

  /** The group's weight in each replicate: {@code out[b] ~ Poisson(1)}, from its hash and the seed. */
  static void weights(long groupHash, long seed, byte[] out) {
    long base = mix(groupHash ^ mix(seed));
    for (int b = 0; b < out.length; b++) {
      double u = (mix(base + (b + 1) * 0x9e3779b97f4a7c15L) >>> 11) * 0x1.0p-53;
      int k = 0;
      while (k < POISSON_CDF.length - 1 && u >= POISSON_CDF[k]) {
        k++;
      }
      out[b] = (byte) k;
    }
  }

  /**
   * A confidence interval and two-sided p-value for a difference whose exact value is
   * {@code point}, from its replicates (non-finite replicates, where a metric is undefined, are
   * left out). The replicates are shifted by {@code point - mean(replicates)}, which removes the
   * small bias of replicates computed on coarser bins (AUC) and changes nothing when they centre on
   * the point; the interval is their percentile interval, with the {@link #quantile} convention.
   *
   * <p>The p-value inverts that same interval: it is {@code 2 * min(a, 1 - b)}, where {@code a} is
   * the largest level whose quantile is at most 0 and {@code b} the smallest whose quantile is at
   * least 0 (the interpolated shares of replicates at or below and at or above 0). So for every
   * confidence level, the interval excludes 0 exactly when {@code p < 1 - confidence}: a gate on
   * {@code p} and one on {@code lo} or {@code hi} never contradict each other. When no replicate
   * reaches 0, p is 0: below the bootstrap's resolution of about {@code 1 / replicates}, which
   * the report shows as such. All NaN with fewer than 10 valid replicates.
   */
  static Interval interval(double point, double[] replicates, double confidence) {
    double[] valid = Arrays.stream(replicates).filter(Double::isFinite).toArray();
    if (valid.length < 10 || !Double.isFinite(point)) {
      return new Interval(Double.NaN, Double.NaN, Double.NaN);
    }
    double shift = point - Arrays.stream(valid).average().orElseThrow();
    for (int i = 0; i < valid.length; i++) {
      valid[i] += shift;
    }
    Arrays.sort(valid);
    double alpha = (1 - confidence) / 2;
    double below = levelAtOrBelowZero(valid);
    double above = 1 - levelAtOrAboveZero(valid);
    double p = Math.min(1, 2 * Math.min(below, above));
    return new Interval(quantile(valid, alpha), quantile(valid, 1 - alpha), p);
  }

  /** The largest q with {@code quantile(sorted, q) <= 0}; 0 when every value is above 0. */
  static double levelAtOrBelowZero(double[] sorted) {
    int k = 0; // values at or below 0
    while (k < sorted.length && sorted[k] <= 0) {
      k++;
    }
    if (k == 0 || k == sorted.length) {
      return k == 0 ? 0 : 1;
    }
    // quantile is linear between order statistics k - 1 (<= 0) and k (> 0): where it crosses 0.
    double t = -sorted[k - 1] / (sorted[k] - sorted[k - 1]);
    return (k - 1 + t) / (sorted.length - 1);
  }

  /** The smallest q with {@code quantile(sorted, q) >= 0}; 1 when every value is below 0. */
  static double levelAtOrAboveZero(double[] sorted) {
    int j = 0; // values below 0
    while (j < sorted.length && sorted[j] < 0) {
      j++;
    }
    if (j == 0 || j == sorted.length) {
      return j == 0 ? 0 : 1;
    }
    double t = -sorted[j - 1] / (sorted[j] - sorted[j - 1]);
    return (j - 1 + t) / (sorted.length - 1);
  }

  /** Linear interpolation between order statistics (type 7 of Hyndman and Fan). */
  static double quantile(double[] sorted, double q) {
    double h = (sorted.length - 1) * q;
    int lo = (int) Math.floor(h);
    int hi = Math.min(lo + 1, sorted.length - 1);
    return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
  }

  record Interval(double lo, double hi, double p) {}
}
