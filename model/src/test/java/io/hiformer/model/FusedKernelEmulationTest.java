package io.hiformer.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.hiformer.kernels.CpuKernels;
import io.hiformer.kernels.cuda.FusedLayout;
import io.hiformer.kernels.cuda.Precision;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The fused CUDA kernel and the Java packing, run on the CPU through {@link KernelEmulator}: every
 * compiled variant (tile size, cluster size, precision) against the golden files and the CPU
 * model. Skipped where g++ is missing. What the emulator cannot show (speed, the real tensor
 * cores' rounding) the GPU tests check on a GPU.
 */
class FusedKernelEmulationTest {

  @BeforeAll
  static void needsCompiler() {
    assumeTrue(KernelEmulator.available(), "g++ is not on the PATH: the kernel emulator cannot be built");
  }

  @ParameterizedTest
  @ValueSource(strings = {"golden-small", "golden-unpruned", "golden-deep", "golden-nodense", "golden-wide"})
  void everyVariantReproducesTheGoldenLogits(String name) throws Exception {
    Parameters p = ModelFile.read(Golden.weights(name));
    SafeTensors expected = SafeTensors.parse(Golden.expected(name));
    Batch batch = GoldenCheck.inputs(p.config(), expected);
    float[] want = expected.tensor("output.logits").floats();
    for (Precision precision : Precision.values()) {
      FusedLayout layout = new FusedLayout(CudaScorer.shape(p.config()), precision);
      float[] blob = CudaScorer.pack(p, layout);
      for (FusedLayout.Variant v : layout.variants()) {
        float[] got = KernelEmulator.logits(layout, blob, v, batch, false);
        assertThat(maxAbsDiff(got, want)).as("%s %s", name, v)
            .isLessThanOrEqualTo(precision == Precision.FP32 ? 1e-5 : 2e-2);
      }
    }
  }

  @Test
  void threadOrderDoesNotChangeTheResult() throws Exception {
    // a missing barrier lets a thread read what another has not yet written; reversing the order in
    // which the emulator runs threads between barriers then changes the logits
    Parameters p = ModelFile.read(Golden.weights("golden-deep"));
    ModelConfig c = p.config();
    Batch batch = TestModels.randomBatch(c, 37, new SplittableRandom(7));
    FusedLayout layout = new FusedLayout(CudaScorer.shape(c), Precision.FP32);
    float[] blob = CudaScorer.pack(p, layout);
    for (FusedLayout.Variant v : layout.variants()) {
      if (v.cluster() == 2) {
        continue;   // a lone block and a cluster of four stand for it: same phases, same barriers
      }
      assertThat(KernelEmulator.logits(layout, blob, v, batch, true))
          .as("%s", v).containsExactly(KernelEmulator.logits(layout, blob, v, batch, false));
    }
  }

  @Test
  void widerTokensMatchTheCpu() throws Exception {
    // 3 heads of 16 pad to a width of 64; 2 tiles, the second partly filled
    RandomCase r = RandomCase.of(new ModelConfig("wide", 48, 3, 2, List.of("a", "b"), 20, 12, 2, List.of(24), 2,
        true, fields(5, 11, 1)), 3, 21);
    FusedLayout layout = r.layout(Precision.FP32);
    assertThat(layout.width()).isEqualTo(64);
    float[] blob = CudaScorer.pack(r.p(), layout);
    for (FusedLayout.Variant v : layout.variants()) {
      assertThat(maxAbsDiff(KernelEmulator.logits(layout, blob, v, r.batch(), false), r.want())).as("%s", v)
          .isLessThanOrEqualTo(1e-4);
    }
  }

  @Test
  void tokensThirtyTwoWideMatchTheCpu() throws Exception {
    // W = 32, the width of ref-serving, which the golden files (W = 16) leave out: the 32-example
    // kernels and the clusters; 37 examples make a full and a partly filled 32-example tile; an FFN
    // 160 wide gives the pruned layer's split rows more steps than a block has warps. The random
    // weights here are larger than trained ones, so tf32 is held to agreeing with itself across
    // variants (they sum in different orders: 3e-3 apart; a slip in one variant's indexing shows as
    // an O(1) difference) and loosely to the CPU.
    RandomCase r = RandomCase.of(new ModelConfig("w32", 32, 4, 3, List.of("a", "b"), 16, 24, 5, List.of(16), 2,
        true, fields(6, 13, 2)), 11, 37);
    for (Precision precision : Precision.values()) {
      FusedLayout layout = r.layout(precision);
      assertThat(layout.width()).isEqualTo(32);
      assertThat(layout.variants()).anyMatch(v -> v.examples() == 32).anyMatch(v -> v.cluster() == 4);
      float[] blob = CudaScorer.pack(r.p(), layout);
      float[] first = null;
      for (FusedLayout.Variant v : layout.variants()) {
        float[] got = KernelEmulator.logits(layout, blob, v, r.batch(), false);
        if (precision == Precision.FP32) {
          assertThat(maxAbsDiff(got, r.want())).as("%s", v).isLessThanOrEqualTo(1e-4);
        } else {
          assertThat(maxAbsDiff(got, r.want())).as("%s", v).isLessThanOrEqualTo(0.2);
          first = first == null ? got : first;
          assertThat(maxAbsDiff(got, first)).as("%s against %s", v, layout.variants().get(0)).isLessThanOrEqualTo(1e-2);
        }
      }
    }
  }

  /** Random weights and a random batch of {@code n} for config {@code c}, and the CPU model's logits. */
  record RandomCase(ModelConfig c, Parameters p, Batch batch, float[] want) {
    static RandomCase of(ModelConfig c, long seed, int n) {
      SplittableRandom rnd = new SplittableRandom(seed);
      Parameters p = TestModels.randomParameters(c, rnd);
      Batch batch = TestModels.randomBatch(c, n, rnd);
      return new RandomCase(c, p, batch, cpuLogits(p, batch));
    }

    FusedLayout layout(Precision precision) {
      return new FusedLayout(CudaScorer.shape(c), precision);
    }
  }

  /** {@code categorical} item fields of {@code vocab} ids, a bag of 9, then up to two dense fields. */
  static List<ModelConfig.Field> fields(int categorical, int vocab, int dense) {
    List<ModelConfig.Field> fields = new ArrayList<>();
    for (int i = 0; i < categorical; i++) {
      fields.add(new ModelConfig.Field("f" + i, ModelConfig.FieldKind.CATEGORICAL, ModelConfig.Side.ITEM, vocab));
    }
    fields.add(new ModelConfig.Field("tags", ModelConfig.FieldKind.BAG, ModelConfig.Side.USER, 9));
    List<ModelConfig.Field> denseFields = List.of(
        new ModelConfig.Field("x", ModelConfig.FieldKind.DENSE, ModelConfig.Side.ITEM, 0),
        new ModelConfig.Field("y", ModelConfig.FieldKind.DENSE, ModelConfig.Side.USER, 0));
    fields.addAll(denseFields.subList(0, dense));
    return fields;
  }

  static float[] cpuLogits(Parameters p, Batch batch) {
    float[] out = new float[batch.size() * p.config().numTasks()];
    try (CpuScorer s = new CpuScorer(new Hiformer(p, CpuKernels.scalar()), 1)) {
      s.score(batch, out);
    }
    return out;
  }

  static double maxAbsDiff(float[] a, float[] b) {
    assertThat(a).hasSameSizeAs(b);
    double m = 0;
    for (int i = 0; i < a.length; i++) {
      m = Math.max(m, Math.abs((double) a[i] - b[i]));
      assertThat(Float.isFinite(a[i])).as("logit %d is %s", i, a[i]).isTrue();
    }
    return m;
  }
}
