package io.hiformer.training.evaluation;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The p-value and the percentile interval come from the same replicates and agree by
 * construction: the interval excludes 0 exactly when {@code p < 1 - confidence}, at any number of
 * replicates (at 100 the two once disagreed on 4 of 54 rows, so {@code auc.p<=0.05} and
 * {@code auc.hi<0} gates could contradict each other).
 */
class BootstrapPValueTest {

  @Test
  void theIntervalExcludesZeroExactlyWhenPIsBelowOneMinusTheConfidence() {
    SplittableRandom rnd = new SplittableRandom(26);
    int excluded = 0;
    int cases = 20_000;
    for (int c = 0; c < cases; c++) {
      int n = 10 + rnd.nextInt(c % 2 == 0 ? 100 : 1000);
      double sigma = Math.exp(rnd.nextDouble(-8, 2));
      double centre = rnd.nextDouble(-4, 4) * sigma;
      // Some cases on a coarse grid: ties, and replicates exactly at 0.
      double grid = c % 5 == 0 ? sigma / (1 + rnd.nextInt(4)) : 0;
      double[] replicates = new double[n];
      for (int b = 0; b < n; b++) {
        double x = centre + sigma * rnd.nextGaussian();
        replicates[b] = grid > 0 ? Math.rint(x / grid) * grid : x;
        if (rnd.nextInt(50) == 0) {
          replicates[b] = Double.NaN; // an undefined replicate is left out
        }
      }
      double mean = java.util.Arrays.stream(replicates).filter(Double::isFinite).average().orElse(0);
      double point = grid > 0 && rnd.nextBoolean() ? mean : mean + sigma * rnd.nextGaussian() * 0.1;
      double confidence = switch (rnd.nextInt(4)) {
        case 0 -> 0.95;
        case 1 -> 0.9;
        case 2 -> 0.99;
        default -> rnd.nextDouble(0.5, 0.999);
      };
      Bootstrap.Interval i = Bootstrap.interval(point, replicates, confidence);
      if (Double.isNaN(i.p())) {
        continue;
      }
      boolean excludes = i.lo() > 0 || i.hi() < 0;
      excluded += excludes ? 1 : 0;
      assertThat(i.p() < 1 - confidence)
          .as("case %d: n %d, confidence %s, interval [%s, %s], p %s", c, n, confidence, i.lo(), i.hi(), i.p())
          .isEqualTo(excludes);
      assertThat(i.p()).isBetween(0.0, 1.0);
    }
    assertThat(excluded).as("both outcomes are exercised").isBetween(cases / 10, cases * 9 / 10);
  }

  @Test
  void pIsTheInterpolatedShareBeyondZeroTimesTwo() {
    // 0..10 shifted: 11 replicates -3..7, symmetric about their mean 2 = the point.
    double[] r = new double[11];
    for (int b = 0; b < r.length; b++) {
      r[b] = b - 3;
    }
    Bootstrap.Interval i = Bootstrap.interval(2, r, 0.95);
    // quantile(q) = -3 + 10 q crosses 0 at q = 0.3: p = 0.6.
    assertThat(i.p()).isCloseTo(0.6, org.assertj.core.api.Assertions.within(1e-12));
    assertThat(i.lo()).isCloseTo(-2.75, org.assertj.core.api.Assertions.within(1e-12));

    double[] allAbove = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    assertThat(Bootstrap.interval(6.5, allAbove, 0.95).p()).as("no replicate crossed 0").isZero();
    assertThat(Reports.pValue(0, 250)).isEqualTo("&lt; 0.0040");
    assertThat(Reports.pValue(0.0039, 250)).isEqualTo("&lt; 0.0040");
    assertThat(Reports.pValue(0.004, 250)).isEqualTo("0.0040");
    assertThat(Reports.pValue(0.25, 250)).isEqualTo("0.2500");
    assertThat(Reports.pValue(Double.NaN, 250)).isEqualTo("&ndash;");
  }
}
