package io.hiformer.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.hiformer.kernels.cuda.CudaDevice;
import io.hiformer.kernels.cuda.CudaUnavailableException;
import io.hiformer.kernels.cuda.Precision;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The CPU fallback: a model the GPU kernel cannot run falls back everywhere; no GPU, where there is none. */
class BackendTest {
  private final List<String> lines = new ArrayList<>();
  private final Logger log = Logger.getLogger(Backend.class.getName());
  private final Handler capture = new Handler() {
    @Override
    public void publish(LogRecord r) {
      lines.add(java.text.MessageFormat.format(r.getMessage(), r.getParameters()));
    }

    @Override
    public void flush() {}

    @Override
    public void close() {}
  };

  @BeforeEach
  void listen() {
    log.addHandler(capture);
  }

  @AfterEach
  void stop() {
    log.removeHandler(capture);
  }

  @Test
  void aModelTheKernelCannotRunIsScoredOnTheCpuWithOneLogLine() throws Exception {
    ModelConfig hetero = TestModels.randomConfig(new SplittableRandom(1), 2, 2, true, true, true)
        .withVariant(ModelConfig.Variant.HETERO);
    Parameters p = TestModels.randomParameters(hetero, new SplittableRandom(2));
    Batch batch = TestModels.randomBatch(hetero, 9, new SplittableRandom(3));
    float[] got = new float[9 * hetero.numTasks()];
    try (LogitScorer s = Backend.AUTO.open(p, 1, Precision.FP32)) {
      assertThat(s).isInstanceOf(CpuScorer.class);
      s.score(batch, got);
    }
    try (LogitScorer s = Backend.AUTO.open(p, 1, Precision.FP32)) {
      assertThat(s).isInstanceOf(CpuScorer.class);
    }
    assertThat(lines).singleElement().asString()
        .startsWith("CUDA unavailable (").contains("'hetero' variant").endsWith("scoring on the CPU");
    assertThat(FusedKernelEmulationTest.maxAbsDiff(got, FusedKernelEmulationTest.cpuLogits(p, batch)))
        .isLessThanOrEqualTo(1e-5);
    assertThatThrownBy(() -> Backend.CUDA.open(p, 1, Precision.FP32))
        .isInstanceOf(CudaUnavailableException.class).hasMessageContaining("'hetero' variant");
    try (LogitScorer s = Backend.CPU.open(p, 1, Precision.FP32)) {
      assertThat(s).isInstanceOf(CpuScorer.class);
    }
  }

  @Test
  void withoutAGpuAutoScoresOnTheCpu() throws Exception {
    String reason = null;
    try {
      CudaDevice.shared();
    } catch (CudaUnavailableException e) {
      reason = e.getMessage();
    }
    assumeTrue(reason != null, "a GPU is present: CudaScorerTest covers it");
    Parameters p = Parameters.initialize(CudaScorerTest.refServing(), 4);
    try (LogitScorer s = Backend.AUTO.open(p, 1, Precision.FP32)) {
      assertThat(s).isInstanceOf(CpuScorer.class);
      assertThat(s.description()).startsWith("cpu ");
    }
    assertThat(lines).singleElement().asString().isEqualTo("CUDA unavailable (" + reason + "); scoring on the CPU");
    assertThatThrownBy(() -> Backend.CUDA.open(p, 1, Precision.FP32)).isInstanceOf(CudaUnavailableException.class)
        .hasMessage(reason);
  }
}
