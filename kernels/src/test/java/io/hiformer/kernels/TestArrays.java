package io.hiformer.kernels;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;

/** Random inputs and tolerance-aware comparisons shared by the kernel tests. */
final class TestArrays {
  private TestArrays() {}

  static float[] uniform(Random rnd, int n) {
    float[] x = new float[n];
    for (int i = 0; i < n; i++) {
      x[i] = rnd.nextFloat() * 2f - 1f;
    }
    return x;
  }

  static int pick(Random rnd, int... choices) {
    return choices[rnd.nextInt(choices.length)];
  }

  /**
   * Every element within {@code tol · max(1, |expected|)}. Comparing whole arrays, padding and
   * offset regions included, also catches writes outside the addressed elements.
   */
  static void assertClose(String what, float[] expected, float[] actual, double tol) {
    assertThat(actual).as(what).hasSameSizeAs(expected);
    int worst = -1;
    double worstExcess = 0;
    for (int i = 0; i < expected.length; i++) {
      double err = Math.abs((double) expected[i] - actual[i]);
      double bound = tol * Math.max(1.0, Math.abs(expected[i]));
      // Written so that a NaN anywhere fails.
      if (!(err <= bound) && (worst < 0 || !(err - bound <= worstExcess))) {
        worst = i;
        worstExcess = err - bound;
      }
    }
    if (worst >= 0) {
      throw new AssertionError(what + ": element " + worst + " expected " + expected[worst]
          + " but was " + actual[worst] + " (tolerance " + tol + ")");
    }
  }

  /** As {@link #assertClose(String, float[], float[], double)} against a double reference. */
  static void assertClose(String what, double[] expected, float[] actual, double tol) {
    float[] e = new float[expected.length];
    for (int i = 0; i < e.length; i++) {
      e[i] = (float) expected[i];
    }
    assertClose(what, e, actual, tol);
  }
}
