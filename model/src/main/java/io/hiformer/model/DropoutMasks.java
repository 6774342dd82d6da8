package io.hiformer.model;

import java.util.SplittableRandom;

/**
 * The masks one training forward pass drew, kept for its backward pass. Each mask holds 0 or
 * {@code 1/(1-p)} per element. Drawn from a generator seeded per pass, so a pass can be repeated
 * exactly (resume, gradient checks).
 */
final class DropoutMasks {
  final Dropout rates;
  final float[] tokens;       // [n, L, d]
  final float[][] attention;  // per layer [n, R, d]
  final float[][] ffn;        // per layer [n, R, m·d]
  final float[][][] towers;   // [task][hidden layer] -> [n, width]
  private SplittableRandom rnd = new SplittableRandom(0);

  DropoutMasks(ModelConfig c, int n, Dropout rates) {
    this.rates = rates;
    int d = c.tokenDim();
    tokens = new float[rates.tokens() > 0 ? n * c.numTokens() * d : 0];
    attention = new float[c.layers()][];
    ffn = new float[c.layers()][];
    for (int l = 0; l < c.layers(); l++) {
      attention[l] = new float[rates.attention() > 0 ? n * c.rows(l) * d : 0];
      ffn[l] = new float[rates.ffn() > 0 ? n * c.rows(l) * c.ffnDim() : 0];
    }
    towers = new float[c.numTasks()][c.towerHidden().size()][];
    for (float[][] t : towers) {
      for (int k = 0; k < t.length; k++) {
        t[k] = new float[rates.towers() > 0 ? n * c.towerHidden().get(k) : 0];
      }
    }
  }

  void reseed(long seed) {
    rnd = new SplittableRandom(seed);
  }

  /** Draws a fresh mask over {@code count} elements and applies it to {@code x}. */
  void drawAndApply(float[] mask, float p, float[] x, int xOff, int count) {
    float keep = 1f / (1f - p);
    for (int i = 0; i < count; i++) {
      mask[i] = rnd.nextFloat() < p ? 0f : keep;
      x[xOff + i] *= mask[i];
    }
  }

  /** Token dropout spares the task tokens: rows {@code [0, rows)} of each example's {@code rowsTotal}. */
  void drawAndApplyRows(float[] mask, float p, float[] x, int n, int rows, int rowsTotal, int d) {
    float keep = 1f / (1f - p);
    for (int b = 0; b < n; b++) {
      for (int i = b * rowsTotal * d; i < (b * rowsTotal + rowsTotal) * d; i++) {
        boolean field = i - b * rowsTotal * d < rows * d;
        mask[i] = !field ? 1f : rnd.nextFloat() < p ? 0f : keep;
        x[i] *= mask[i];
      }
    }
  }

  /** The backward of a mask: {@code dx *= mask}. */
  static void apply(float[] mask, float[] dx, int dxOff, int count) {
    for (int i = 0; i < count; i++) {
      dx[dxOff + i] *= mask[i];
    }
  }
}
