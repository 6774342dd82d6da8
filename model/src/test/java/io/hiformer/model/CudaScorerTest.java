package io.hiformer.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.hiformer.kernels.CpuKernels;
import io.hiformer.kernels.cuda.CudaDevice;
import io.hiformer.kernels.cuda.CudaUnavailableException;
import io.hiformer.kernels.cuda.FusedLayout;
import io.hiformer.kernels.cuda.Precision;
import java.io.IOException;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The CUDA scorer on a real GPU, against the golden files and the CPU model: every kernel variant,
 * both precisions. Skipped (never passed) where there is no usable GPU.
 */
class CudaScorerTest {
  /** fp32 (3xTF32) against the CPU: the bound. */
  static final double FP32_BOUND = 1e-4;
  /** tf32 operands against the CPU, on ref-serving with random weights and inputs (README: measured). */
  static final double TF32_BOUND = 2e-2;

  @BeforeEach   // per test, so that each one is reported as skipped
  void needsGpu() {
    String why = null;
    try {
      CudaDevice.shared();
    } catch (CudaUnavailableException e) {
      why = e.getMessage();
    }
    assumeTrue(why == null, "no usable GPU: " + why);
  }

  @ParameterizedTest
  @ValueSource(strings = {"golden-small", "golden-unpruned", "golden-deep", "golden-nodense", "golden-wide"})
  void goldenLogitsOnEveryVariant(String name) throws Exception {
    Parameters p = ModelFile.read(Golden.weights(name));
    SafeTensors expected = SafeTensors.parse(Golden.expected(name));
    Batch batch = GoldenCheck.inputs(p.config(), expected);
    float[] want = expected.tensor("output.logits").floats();
    for (Precision precision : Precision.values()) {
      try (CudaScorer s = new CudaScorer(p, precision)) {
        s.stage(batch);
        for (FusedLayout.Variant v : s.forward().layout().variants()) {
          float[] got = run(s, v, batch.size(), p.config().numTasks());
          double err = FusedKernelEmulationTest.maxAbsDiff(got, want);
          System.out.printf("%s %s: max |logit - golden| %.3g%n", name, v, err);
          assertThat(err).as("%s %s", name, v).isLessThanOrEqualTo(precision == Precision.FP32 ? FP32_BOUND : TF32_BOUND);
        }
      }
    }
  }

  @Test
  void refServingBatchesMatchTheCpu() throws Exception {
    ModelConfig c = refServing();
    SplittableRandom rnd = new SplittableRandom(11);
    Parameters p = Parameters.initialize(c, 5);
    for (int size : new int[] {1, 7, 33, 256, 1000, 4099}) {
      Batch batch = TestModels.randomBatch(c, size, rnd);
      float[] want = new float[size * c.numTasks()];
      try (CpuScorer cpu = new CpuScorer(new Hiformer(p, CpuKernels.best()), 2)) {
        cpu.score(batch, want);
      }
      for (Precision precision : Precision.values()) {
        try (CudaScorer s = new CudaScorer(p, precision)) {
          float[] auto = new float[want.length];
          s.score(batch, auto);
          assertThat(FusedKernelEmulationTest.maxAbsDiff(auto, want)).as("batch %d %s auto", size, precision)
              .isLessThanOrEqualTo(precision == Precision.FP32 ? FP32_BOUND : TF32_BOUND);
          s.stage(batch);
          for (FusedLayout.Variant v : s.forward().layout().variants()) {
            float[] got = run(s, v, size, c.numTasks());
            double err = FusedKernelEmulationTest.maxAbsDiff(got, want);
            System.out.printf("ref-serving batch %d %s: max |logit - CPU| %.3g%n", size, v, err);
            assertThat(err).as("batch %d %s", size, v)
                .isLessThanOrEqualTo(precision == Precision.FP32 ? FP32_BOUND : TF32_BOUND);
          }
        }
      }
    }
  }

  @Test
  void clusteredKernelsAreChosenOnlyWhereAllTheirClustersRunAtOnce() throws Exception {
    CudaDevice device = CudaDevice.shared();
    try (CudaScorer s = new CudaScorer(Parameters.initialize(refServing(), 5), Precision.FP32)) {
      for (FusedLayout.Variant v : s.forward().layout().variants()) {
        if (v.cluster() == 1) {
          continue;
        }
        int atOnce = s.forward().clustersAtOnce(v);
        System.out.printf("%s on %s: %d clusters at once%n", v, device, atOnce);
        // a cluster's blocks share a GPC, so whole GPCs' worth may be left over, never more blocks than SMs
        assertThat(atOnce).as("%s", v).isPositive().isLessThanOrEqualTo(device.multiprocessors() / v.cluster());
      }
      for (int tiles = 1; tiles <= device.multiprocessors(); tiles++) {
        FusedLayout.Variant chosen = s.forward().choose(16 * tiles);
        if (chosen.cluster() > 1) {
          assertThat(tiles).as("%d tiles on %s", tiles, chosen).isLessThanOrEqualTo(s.forward().clustersAtOnce(chosen));
        }
      }
    }
  }

  @Test
  void closingFreesTheWeightsAndBuffers() throws Exception {
    CudaDevice device = CudaDevice.shared();
    Parameters p = Parameters.initialize(refServing(), 5);
    long before = device.freeBytes();
    CudaScorer s = new CudaScorer(p, Precision.FP32);
    Batch batch = TestModels.randomBatch(p.config(), 4096, new SplittableRandom(1));
    float[] out = new float[4096 * p.config().numTasks()];
    s.score(batch, out);
    long held = before - device.freeBytes();
    System.out.printf("ref-serving fp32 on the device: %d MB of weights, %d MB held in all%n",
        s.forward().weightBytes() >> 20, held >> 20);
    assertThat(held).isGreaterThanOrEqualTo(s.forward().weightBytes());
    s.close();
    // the allocator hands memory back in 2 MiB pages: allow a few for other users of the device
    assertThat(before - device.freeBytes()).isLessThan(8L << 20);
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> s.score(batch, out))
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
  }

  private static float[] run(CudaScorer s, FusedLayout.Variant v, int n, int tasks) {
    float[] out = new float[n * tasks];
    s.forward().fillLogits(Float.NaN);   // a logit the kernel does not write fails the check
    s.forward().launch(n, v);
    s.forward().readLogits(n, out);
    return out;
  }

  static ModelConfig refServing() throws IOException {
    return BundledConfigs.get(BundledConfigs.REF_SERVING);
  }
}
