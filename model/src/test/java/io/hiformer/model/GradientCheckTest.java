package io.hiformer.model;

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
      Batch batch = TestModels.randomBatch(config, 6, rnd);
      GradientChecks.assertMatchesFiniteDifferences(config, params, batch, kernels, dropout, rnd);
    }
  }
}
