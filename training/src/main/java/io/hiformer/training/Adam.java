package io.hiformer.training;

import io.hiformer.model.Parameters;

/**
 * Adam (Kingma and Ba) with bias correction over every parameter tensor, updated in place.
 * Moments live in two {@link Parameters} shaped like the model.
 */
public final class Adam {
  private final Parameters params;
  private final Parameters m;
  private final Parameters v;
  private final double lr;
  private final double beta1;
  private final double beta2;
  private final double eps;
  private int step;

  public Adam(Parameters params, double lr) {
    this(params, lr, 0.9, 0.999, 1e-8);
  }

  public Adam(Parameters params, double lr, double beta1, double beta2, double eps) {
    this.params = params;
    this.m = Parameters.zeros(params.config());
    this.v = Parameters.zeros(params.config());
    this.lr = lr;
    this.beta1 = beta1;
    this.beta2 = beta2;
    this.eps = eps;
  }

  /** One update from {@code grads}; the caller zeroes them for the next step. */
  public void step(Parameters grads) {
    step++;
    double c1 = 1 - Math.pow(beta1, step);
    double c2 = 1 - Math.pow(beta2, step);
    for (Parameters.Tensor t : params.tensors()) {
      float[] w = t.data();
      float[] g = grads.get(t.name());
      float[] m1 = m.get(t.name());
      float[] m2 = v.get(t.name());
      for (int i = 0; i < w.length; i++) {
        m1[i] = (float) (beta1 * m1[i] + (1 - beta1) * g[i]);
        m2[i] = (float) (beta2 * m2[i] + (1 - beta2) * g[i] * g[i]);
        w[i] -= (float) (lr * (m1[i] / c1) / (Math.sqrt(m2[i] / c2) + eps));
      }
    }
  }
}
