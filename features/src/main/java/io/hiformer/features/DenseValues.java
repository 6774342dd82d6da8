package io.hiformer.features;

/**
 * The one rule for dense numbers, applied at every boundary they cross (Rank requests, feature
 * ingestion, {@code features load}, training and evaluation readers, the {@link Featurizer}): the
 * model computes in {@code float}, so a number is usable when it is still finite after the cast
 * to float, before and after its field's transform. A double such as {@code 1e39} is finite but
 * becomes Infinity as a float, so it is refused like NaN and the infinities.
 */
public final class DenseValues {
  private DenseValues() {}

  /** True when {@code x} is a finite float after the cast: not NaN, not infinite, within ±{@link Float#MAX_VALUE}. */
  public static boolean fits(double x) {
    return Float.isFinite((float) x);
  }

  /**
   * Why {@code x} is not a usable dense value, as the end of a sentence ({@code "is 1.0E39, beyond the
   * float range"}), or null when it {@link #fits}.
   */
  public static String problem(double x) {
    if (fits(x)) {
      return null;
    }
    return Double.isFinite(x)
        ? "is " + x + ", beyond the float range (±" + Float.MAX_VALUE + ")"
        : "is " + x + ", not a finite number";
  }
}
