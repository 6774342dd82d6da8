package io.hiformer.model;

import static org.assertj.core.api.Assertions.assertThat;

import io.hiformer.kernels.CpuKernels;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Finite-difference checks of the backward pass: for every parameter tensor, the analytic
 * directional derivative g·v along a random direction v must match the central difference of the
 * loss, on random small configs.
 */
class GradientCheckTest {

  static Stream<Arguments> configs() {
    return Stream.of(
        Arguments.of(1, 1, false, false, true),
        Arguments.of(1, 2, true, true, true),
        Arguments.of(2, 1, true, true, false),
        Arguments.of(2, 4, false, true, true),
        Arguments.of(3, 2, true, false, true),
        Arguments.of(3, 3, false, false, false),
        Arguments.of(2, 3, true, true, true));
  }

  @ParameterizedTest(name = "layers={0} heads={1} prune={2} bags={3} dense={4}")
  @MethodSource("configs")
  void analyticGradientsMatchFiniteDifferences(int layers, int heads, boolean prune, boolean bags, boolean dense) {
    check(layers, heads, prune, bags, dense, Dropout.NONE);
  }

  /** With dropout the pass is a fixed function once its masks are: re-seeded before every forward. */
  @ParameterizedTest(name = "layers={0} heads={1} prune={2} bags={3} dense={4}")
  @MethodSource("configs")
  void gradientsWithDropoutMatchFiniteDifferences(int layers, int heads, boolean prune, boolean bags, boolean dense) {
    check(layers, heads, prune, bags, dense, new Dropout(0.2f, 0.3f, 0.25f, 0.4f));
  }

  private static void check(int layers, int heads, boolean prune, boolean bags, boolean dense, Dropout dropout) {
    for (CpuKernels kernels : new CpuKernels[] {CpuKernels.scalar(), CpuKernels.best()}) {
      SplittableRandom rnd = new SplittableRandom(layers * 1000L + heads * 100 + (prune ? 10 : 0) + (bags ? 1 : 0));
      ModelConfig config = TestModels.randomConfig(rnd, layers, heads, prune, bags, dense);
      Parameters params = TestModels.randomParameters(config, rnd);
      int size = 6;
      Batch batch = TestModels.randomBatch(config, size, rnd);
      Hiformer model = new Hiformer(params, kernels);
      Activations act = new Activations(config, size, true);
      act.setDropout(config, dropout);
      Parameters grads = Parameters.zeros(config);
      act.seedDropout(99);
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
            .as("%s with %s: analytic %s, numeric %s", t.name(), kernels.name(), analytic, numeric)
            .isLessThanOrEqualTo(2e-2 * Math.abs(analytic) + 2e-4);
      }
    }
  }

  private static double lossAt(Hiformer model, Batch batch, Activations act, float[] x, double[] v, double h) {
    float[] saved = x.clone();
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) (x[i] + h * v[i]);
    }
    act.seedDropout(99);
    model.forward(batch, 0, batch.size(), act);
    double loss = model.loss(batch, 0, batch.size(), act, batch.size());
    System.arraycopy(saved, 0, x, 0, x.length);
    return loss;
  }
}
