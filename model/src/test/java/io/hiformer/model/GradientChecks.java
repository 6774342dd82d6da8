package io.hiformer.model;

import static org.assertj.core.api.Assertions.assertThat;

import io.hiformer.kernels.CpuKernels;
import java.util.SplittableRandom;

/**
 * The finite-difference check shared by the gradient tests: for every parameter tensor, the
 * analytic directional derivative g·v along a random direction v must match the central
 * difference of the loss. Dropout masks are re-seeded before every forward, so the pass is a fixed
 * function of the weights.
 */
final class GradientChecks {
  private static final long MASK_SEED = 99;

  private GradientChecks() {}

  /** Asserts the match for every tensor and returns the analytic gradients. */
  static Parameters assertMatchesFiniteDifferences(ModelConfig config, Parameters params, Batch batch,
      CpuKernels kernels, Dropout dropout, SplittableRandom rnd) {
    int size = batch.size();
    Hiformer model = new Hiformer(params, kernels);
    Activations act = new Activations(config, size, true);
    act.setDropout(config, dropout);
    Parameters grads = Parameters.zeros(config);
    act.seedDropout(MASK_SEED);
    model.forward(batch, 0, size, act);
    model.backward(batch, 0, size, act, grads, size);

    for (Parameters.Tensor t : params.tensors()) {
      float[] g = grads.get(t.name());
      float[] x = t.data();
      double[] v = new double[x.length];
      double analytic = 0;
      for (int i = 0; i < x.length; i++) {
        v[i] = rnd.nextGaussian();
        analytic += g[i] * v[i];
      }
      double h = 3e-4;
      double numeric = (lossAt(model, batch, act, x, v, h) - lossAt(model, batch, act, x, v, -h)) / (2 * h);
      assertThat(Math.abs(numeric - analytic))
          .as("%s %s with %s: analytic %s, numeric %s", config.variant(), t.name(), kernels.name(), analytic, numeric)
          .isLessThanOrEqualTo(2e-2 * Math.abs(analytic) + 2e-4);
    }
    return grads;
  }

  private static double lossAt(Hiformer model, Batch batch, Activations act, float[] x, double[] v, double h) {
    float[] saved = x.clone();
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) (x[i] + h * v[i]);
    }
    act.seedDropout(MASK_SEED);
    model.forward(batch, 0, batch.size(), act);
    double loss = model.loss(batch, 0, batch.size(), act, batch.size());
    System.arraycopy(saved, 0, x, 0, x.length);
    return loss;
  }
}
