package io.hiformer.model;

import static org.assertj.core.api.Assertions.assertThat;

import io.hiformer.kernels.CpuKernels;
import io.hiformer.model.ModelConfig.Variant;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link GradientCheckTest} for the ablation variants: for every parameter tensor, the analytic
 * directional derivative g·v along a random direction v must match the central difference of the
 * loss, on random small configs, pruned and unpruned, with and without dropout.
 */
class VariantGradientCheckTest {

  static Stream<Arguments> configs() {
    Stream.Builder<Arguments> s = Stream.builder();
    for (Variant v : new Variant[] {Variant.HETERO, Variant.VANILLA}) {
      s.add(Arguments.of(v, 1, 1, false, false, true));
      s.add(Arguments.of(v, 1, 2, true, true, true));
      s.add(Arguments.of(v, 2, 1, true, true, false));
      s.add(Arguments.of(v, 2, 4, false, true, true));
      s.add(Arguments.of(v, 3, 2, true, false, true));
      s.add(Arguments.of(v, 3, 3, false, false, false));
    }
    return s.build();
  }

  @ParameterizedTest(name = "{0} layers={1} heads={2} prune={3} bags={4} dense={5}")
  @MethodSource("configs")
  void analyticGradientsMatchFiniteDifferences(Variant variant, int layers, int heads, boolean prune, boolean bags,
      boolean dense) {
    check(variant, layers, heads, prune, bags, dense, Dropout.NONE);
  }

  @ParameterizedTest(name = "{0} layers={1} heads={2} prune={3} bags={4} dense={5}")
  @MethodSource("configs")
  void gradientsWithDropoutMatchFiniteDifferences(Variant variant, int layers, int heads, boolean prune,
      boolean bags, boolean dense) {
    check(variant, layers, heads, prune, bags, dense, new Dropout(0.2f, 0.3f, 0.25f, 0.4f));
  }

  private static void check(Variant variant, int layers, int heads, boolean prune, boolean bags, boolean dense,
      Dropout dropout) {
    for (CpuKernels kernels : new CpuKernels[] {CpuKernels.scalar(), CpuKernels.best()}) {
      SplittableRandom rnd = new SplittableRandom(
          variant.ordinal() * 7919L + layers * 1000L + heads * 100 + (prune ? 10 : 0) + (bags ? 1 : 0));
      ModelConfig config = TestModels.randomConfig(rnd, layers, heads, prune, bags, dense).withVariant(variant);
      Parameters params = TestModels.randomParameters(config, rnd);
      Batch batch = TestModels.randomBatch(config, 6, rnd);
      Parameters grads = GradientChecks.assertMatchesFiniteDifferences(config, params, batch, kernels, dropout, rnd);
      // the new key and value projections do get gradients (with d = 1 every LayerNorm is constant,
      // so nothing before the final one reaches the loss)
      for (int l = 0; l < (config.tokenDim() > 1 ? layers : 0); l++) {
        assertThat(maxAbs(grads.get("layers." + l + ".attn.wk"))).as("%s layer %d wk gradient", variant, l)
            .isGreaterThan(0f);
        assertThat(maxAbs(grads.get("layers." + l + ".attn.wv"))).as("%s layer %d wv gradient", variant, l)
            .isGreaterThan(0f);
      }
    }
  }

  private static float maxAbs(float[] x) {
    float m = 0;
    for (float v : x) {
      m = Math.max(m, Math.abs(v));
    }
    return m;
  }
}
