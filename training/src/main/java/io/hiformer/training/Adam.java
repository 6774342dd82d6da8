package io.hiformer.training;

import io.hiformer.model.Parameters;

/**
 * Adam (Kingma and Ba) with bias correction. Dense tensors are updated whole every step;
 * embedding tables ({@code emb.*}) are updated sparsely, only in the rows a step touched ("lazy"
 * Adam), so a step costs what its batch uses, not the size of the vocabularies.
 *
 * <p>Embeddings can be regularised two ways: an L2 term added to the touched rows' gradients, and
 * decoupled weight decay (AdamW) that shrinks every row by {@code (1 - lr·wd)} per step. Untouched
 * rows owe their shrinking lazily: it is applied, all steps at once, when a row is next touched or
 * at {@link #settle()}, which gives the same weights as decaying every row every step.
 */
public final class Adam {

  /** Optimiser settings; weight decays are per step, scaled by the learning rate. */
  public record Settings(double beta1, double beta2, double eps, double weightDecay, double embeddingWeightDecay,
      double embeddingL2) {
    public static Settings defaults() {
      return new Settings(0.9, 0.999, 1e-8, 0, 0, 0);
    }

    public Settings withEmbeddingRegularisation(double decoupledDecay, double l2) {
      return new Settings(beta1, beta2, eps, weightDecay, decoupledDecay, l2);
    }
  }

  private final Parameters params;
  private final Parameters m;
  private final Parameters v;
  private final Settings s;
  private final java.util.Map<String, double[]> owedDecay = new java.util.HashMap<>();
  private long step;
  private double decayProduct = 1;  // Π (1 - lr_t·wd) over all steps so far, for the lazy decay

  public Adam(Parameters params, Settings settings) {
    this.params = params;
    this.m = Parameters.zeros(params.config());
    this.v = Parameters.zeros(params.config());
    this.s = settings;
    for (Parameters.Tensor t : params.tensors()) {
      if (Parameters.isEmbedding(t.name()) && s.embeddingWeightDecay() > 0) {
        double[] paid = new double[t.shape()[0]];
        java.util.Arrays.fill(paid, 1.0);
        owedDecay.put(t.name(), paid);
      }
    }
  }

  long steps() {
    return step;
  }

  /** One update at learning rate {@code lr} from {@code grads}, embeddings only in {@code rows}. */
  public void step(Parameters grads, TouchedRows rows, double lr) {
    step++;
    double c1 = 1 - Math.pow(s.beta1(), step);
    double c2 = 1 - Math.pow(s.beta2(), step);
    decayProduct *= 1 - lr * s.embeddingWeightDecay();
    for (Parameters.Tensor t : params.tensors()) {
      String name = t.name();
      float[] w = t.data();
      float[] g = grads.get(name);
      float[] m1 = m.get(name);
      float[] m2 = v.get(name);
      if (Parameters.isEmbedding(name)) {
        int d = t.shape()[1];
        double[] paid = owedDecay.get(name);
        TouchedRows.Table touched = rows.table(name);
        for (int k = 0; k < touched.count(); k++) {
          int row = touched.row(k);
          if (paid != null) {
            settleRow(w, row, d, paid);
          }
          update(w, g, m1, m2, row * d, (row + 1) * d, lr, c1, c2, s.embeddingL2());
        }
      } else {
        if (s.weightDecay() > 0) {
          float keep = (float) (1 - lr * s.weightDecay());
          for (int i = 0; i < w.length; i++) {
            w[i] *= keep;
          }
        }
        update(w, g, m1, m2, 0, w.length, lr, c1, c2, 0);
      }
    }
  }

  private void update(float[] w, float[] g, float[] m1, float[] m2, int from, int to, double lr, double c1,
      double c2, double l2) {
    double b1 = s.beta1();
    double b2 = s.beta2();
    for (int i = from; i < to; i++) {
      double gi = g[i] + l2 * w[i];
      m1[i] = (float) (b1 * m1[i] + (1 - b1) * gi);
      m2[i] = (float) (b2 * m2[i] + (1 - b2) * gi * gi);
      w[i] -= (float) (lr * (m1[i] / c1) / (Math.sqrt(m2[i] / c2) + s.eps()));
    }
  }

  /** Applies the decay a row owes since it was last settled. */
  private void settleRow(float[] w, int row, int d, double[] paid) {
    float factor = (float) (decayProduct / paid[row]);
    if (factor != 1f) {
      for (int i = row * d; i < (row + 1) * d; i++) {
        w[i] *= factor;
      }
    }
    paid[row] = decayProduct;
  }

  /**
   * Forgets what the optimiser knows of embedding rows that now hold other ids: zero moments, and
   * no weight decay owed from before (the row's new weights were just set).
   */
  public void resetRows(String tensor, int[] rows) {
    int d = params.tensor(tensor).shape()[1];
    float[] m1 = m.get(tensor);
    float[] m2 = v.get(tensor);
    double[] paid = owedDecay.get(tensor);
    for (int row : rows) {
      java.util.Arrays.fill(m1, row * d, (row + 1) * d, 0f);
      java.util.Arrays.fill(m2, row * d, (row + 1) * d, 0f);
      if (paid != null) {
        paid[row] = decayProduct;
      }
    }
  }

  /** Brings every embedding row up to date with the lazy decay: call before using the weights. */
  void settle() {
    for (var e : owedDecay.entrySet()) {
      Parameters.Tensor t = params.tensor(e.getKey());
      int d = t.shape()[1];
      for (int row = 0; row < e.getValue().length; row++) {
        settleRow(t.data(), row, d, e.getValue());
      }
    }
  }

  /** The optimiser's state as named tensors, for checkpoints: moments, step and decay bookkeeping. */
  Parameters firstMoments() {
    return m;
  }

  Parameters secondMoments() {
    return v;
  }

  void restore(long steps, double decay) {
    this.step = steps;
    this.decayProduct = decay;
    for (double[] paid : owedDecay.values()) {
      java.util.Arrays.fill(paid, decay);
    }
  }

  double decayProduct() {
    return decayProduct;
  }
}
