package io.hiformer.training;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hiformer.kernels.CpuKernels;
import io.hiformer.kernels.cuda.CudaUnavailableException;
import io.hiformer.model.Dropout;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.Parameters;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** Backend choice: the GPU when usable, the CPU with one line under auto, clear refusals under cuda. */
class TrainingBackendTest {
  private static final ModelConfig CONFIG = SyntheticCtr.config();
  private static final Trainer.Options OPTIONS = new Trainer.Options(4096, 1e-3, 0, Dropout.NONE,
      Adam.Settings.defaults(), 1, 1, 0.99);

  private final ByteArrayOutputStream log = new ByteArrayOutputStream();
  private final TrainingRun.Progress progress = new TrainingRun.Progress(new PrintStream(log, true), false);

  private String log() {
    return log.toString(StandardCharsets.UTF_8);
  }

  @Test
  void autoWithoutAGpuTrainsOnTheCpuSayingWhyInOneLine() {
    try (Trainer t = TrainingBackend.AUTO.open(Parameters.initialize(CONFIG, 1), OPTIONS, CpuKernels.scalar(),
        progress, () -> {
          throw new CudaUnavailableException("no NVIDIA driver: libcuda.so.1 is not installed");
        })) {
      assertThat(t.onGpu()).isFalse();
    }
    assertThat(log()).isEqualTo("training on the CPU: no usable GPU: no NVIDIA driver: libcuda.so.1 is not installed"
        + System.lineSeparator());
  }

  @Test
  void cudaWithoutAGpuIsRefusedNamingWhy() {
    assertThatThrownBy(() -> TrainingBackend.CUDA.open(Parameters.initialize(CONFIG, 1), OPTIONS, CpuKernels.scalar(),
        progress, () -> {
          throw new CudaUnavailableException("no NVIDIA driver: libcuda.so.1 is not installed");
        })).isInstanceOf(IllegalStateException.class)
        .hasMessageStartingWith("no usable GPU: no NVIDIA driver: libcuda.so.1 is not installed (--backend cuda");
  }

  @Test
  void variantsTheKernelsDoNotRunStayOnTheCpu() {
    ModelConfig hetero = CONFIG.withVariant(ModelConfig.Variant.HETERO);
    EmulatedTrainingDevice dev = new EmulatedTrainingDevice();
    assertThatThrownBy(() -> TrainingBackend.CUDA.open(Parameters.initialize(hetero, 1), OPTIONS, CpuKernels.scalar(),
        progress, () -> dev)).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("the CUDA kernels cannot train this model").hasMessageContaining("hetero");
    try (Trainer t = TrainingBackend.AUTO.open(Parameters.initialize(hetero, 1), OPTIONS, CpuKernels.scalar(),
        progress, () -> dev)) {
      assertThat(t.onGpu()).isFalse();
    }
    assertThat(log()).startsWith("training on the CPU: the CUDA kernels cannot train this model: ");
  }

  @Test
  void aModelThatDoesNotFitIsRefusedBeforeTrainingWithBothFigures() {
    EmulatedTrainingDevice small = new EmulatedTrainingDevice(1_000_000, false);
    assertThatThrownBy(() -> TrainingBackend.CUDA.open(Parameters.initialize(CONFIG, 1), OPTIONS, CpuKernels.scalar(),
        progress, () -> small)).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("needs ").hasMessageContaining("but 0.00 GiB (1,000,000 bytes) are free")
        .hasMessageContaining("for a batch of 4096").hasMessageContaining("--backend cpu");
    try (Trainer t = TrainingBackend.CUDA.open(Parameters.initialize(CONFIG, 1), OPTIONS, CpuKernels.scalar(),
        progress, EmulatedTrainingDevice::new)) {
      assertThat(t.onGpu()).isTrue();
    }
    assertThat(log()).startsWith("training on optim.cu emulated on the CPU");
  }
}
