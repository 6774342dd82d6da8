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
   * the point; the interval is their percentile interval. The p-value inverts that interval:
   * twice the smaller share of shifted replicates on either side of 0, {@code (1 + count) / (1 + valid)}
   * per side, so it is below {@code 1 - confidence} just when the interval excludes 0. All NaN
   * with fewer than 10 valid replicates.
   */
  static Interval interval(double point, double[] replicates, double confidence) {
    double[] valid = Arrays.stream(replicates).filter(Double::isFinite).toArray();
    if (valid.length < 10 || !Double.isFinite(point)) {
      return new Interval(Double.NaN, Double.NaN, Double.NaN);
    }
    double shift = point - Arrays.stream(valid).average().orElseThrow();
    int atOrBelow = 0;
    int atOrAbove = 0;
    for (int i = 0; i < valid.length; i++) {
      valid[i] += shift;
      if (valid[i] <= 0) {
        atOrBelow++;
      }
      if (valid[i] >= 0) {
        atOrAbove++;
      }
    }
    Arrays.sort(valid);
    double alpha = (1 - confidence) / 2;
    double p = Math.min(1, 2 * (1.0 + Math.min(atOrBelow, atOrAbove)) / (1.0 + valid.length));
    return new Interval(quantile(valid, alpha), quantile(valid, 1 - alpha), p);
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
