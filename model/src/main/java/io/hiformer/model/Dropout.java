package io.hiformer.model;

/**
 * Training-only dropout rates (docs/model.md, Training only): on the field and
 * dense tokens, on the attention output before its projection, on the FFN activation and on the
 * towers' hidden activations. Inverted dropout: kept values are scaled by {@code 1/(1-p)}, so
 * inference needs no change.
 */
public record Dropout(float tokens, float attention, float ffn, float towers) {
  public static final Dropout NONE = new Dropout(0, 0, 0, 0);

  public Dropout {
    for (float p : new float[] {tokens, attention, ffn, towers}) {
      if (!(p >= 0 && p < 1)) {
        throw new IllegalArgumentException("dropout rates must be in [0, 1), got " + p);
      }
    }
  }

  /** The same rate everywhere. */
  public static Dropout uniform(float p) {
    return new Dropout(p, p, p, p);
  }

  public boolean any() {
    return tokens > 0 || attention > 0 || ffn > 0 || towers > 0;
  }
}
