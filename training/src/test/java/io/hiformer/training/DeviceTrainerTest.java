package io.hiformer.training;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.hiformer.kernels.CpuKernels;
import io.hiformer.model.Batch;
import io.hiformer.model.Dropout;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.Parameters;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The GPU trainer's whole path (packing, the optimiser kernels of optim.cu, the host copies,
 * checkpoints) with the kernels emulated on the CPU and the forward and backward by the CPU model
 * ({@link HostDeviceStep}): against the CPU trainer on one thread with the scalar kernels, which
 * runs the same arithmetic in the same order, so the two agree to float rounding.
 */
class DeviceTrainerTest {
  private static final ModelConfig CONFIG = SyntheticCtr.config();

  @BeforeAll
  static void needsCompiler() {
    assumeTrue(EmulatedTrainingDevice.available(), "g++ is not on the PATH: the kernel emulator cannot be built");
  }

  static Trainer.Options options(int batch) {
    return new Trainer.Options(batch, 1e-2, 4, new Dropout(0.1f, 0.1f, 0.1f, 0.1f),
        new Adam.Settings(0.9, 0.999, 1e-8, 1e-3, 0.5, 1e-4), 1, 9, 0.9);
  }

  static Trainer cpu(Trainer.Options o) {
    return new Trainer(Parameters.initialize(CONFIG, 9), o, CpuKernels.scalar());
  }

  static Trainer device(Trainer.Options o, EmulatedTrainingDevice dev) {
    return Trainer.onDevice(Parameters.initialize(CONFIG, 9), o, CpuKernels.scalar(), dev,
        HostDeviceStep.factory(dev, CpuKernels.scalar(), o.dropout()));
  }

  @Test
  void stepsOnTheDeviceMatchTheCpuScalarReference() {
    Trainer.Options o = options(64);
    ExampleSet data = TrainingRunTest.examples(192, 21);
    EmulatedTrainingDevice dev = new EmulatedTrainingDevice();
    try (Trainer want = cpu(o); Trainer got = device(o, dev)) {
      int s = 0;
      for (Batch batch : data.batches(64, false, 0)) {
        double lw = want.step(batch);
        double lg = got.step(batch);
        assertThat(lg).as("loss of step %d", s + 1).isCloseTo(lw, org.assertj.core.data.Offset.offset(1e-5));
        if (s == 0) {
          want.settle();
          got.settle();
          FusedOptimizerEmulationTest.assertClose(got.parameters(), want.parameters(), "weights after one step");
        }
        s++;
      }
      assertThat(s).isEqualTo(3);
      want.settle();
      got.settle();
      assertThat(got.optimizer().steps()).isEqualTo(want.optimizer().steps());
      FusedOptimizerEmulationTest.assertClose(got.parameters(), want.parameters(), "weights");
      FusedOptimizerEmulationTest.assertClose(got.evaluationParameters(), want.evaluationParameters(), "average");
      FusedOptimizerEmulationTest.assertClose(got.optimizer().firstMoments(), want.optimizer().firstMoments(), "m");
      assertThat(dev.launches()).isPositive();
    }
  }

  @Test
  void aCheckpointResumesOnTheOtherBackendAndTheLossCurveContinues(@TempDir Path dir) throws Exception {
    Trainer.Options o = options(128);
    ExampleSet train = TrainingRunTest.examples(4_096, 3);
    ExampleSet valid = TrainingRunTest.examples(512, 4);
    TrainingRun.Result straight;
    Parameters straightWeights;
    try (Trainer t = cpu(o)) {
      straight = TrainingRun.run(t, train, valid, new TrainingRun.Options(3, 10, null, 9), TrainingRunTest.quiet());
      straightWeights = t.parameters().copy();
    }
    EmulatedTrainingDevice dev = new EmulatedTrainingDevice();
    List<TrainingRun.Epoch> chained = new ArrayList<>();
    Parameters chainedWeights;
    // epoch 1 on the GPU path, epoch 2 on the CPU from its checkpoint, epoch 3 on the GPU path from the CPU's
    try (Trainer t = device(o, dev)) {
      chained.addAll(TrainingRun.run(t, train, valid, new TrainingRun.Options(1, 10, dir, 9), TrainingRunTest.quiet())
          .epochs());
    }
    try (Trainer t = cpu(o)) {
      TrainingRun.Result r = TrainingRun.run(t, train, valid, new TrainingRun.Options(2, 10, dir, 9),
          TrainingRunTest.quiet());
      assertThat(r.resumed()).isTrue();
      chained.addAll(r.epochs());
    }
    try (Trainer t = device(o, dev)) {
      TrainingRun.Result r = TrainingRun.run(t, train, valid, new TrainingRun.Options(3, 10, dir, 9),
          TrainingRunTest.quiet());
      assertThat(r.resumed()).isTrue();
      chained.addAll(r.epochs());
      chainedWeights = t.parameters().copy();
    }
    assertThat(chained).hasSize(3);
    for (int e = 0; e < 3; e++) {
      assertThat(chained.get(e).trainLoss()).as("train loss of epoch %d", e + 1)
          .isCloseTo(straight.epochs().get(e).trainLoss(), org.assertj.core.data.Offset.offset(1e-5));
    }
    assertThat(chained.get(2).trainLoss()).isLessThan(chained.get(0).trainLoss());
    FusedOptimizerEmulationTest.assertClose(chainedWeights, straightWeights, "final weights");
  }

  @Test
  void aNonFiniteGradientStopsTheStepBeforeTheWeightsChange() {
    Trainer.Options o = options(16);
    EmulatedTrainingDevice dev = new EmulatedTrainingDevice();
    DeviceStep.Factory host = HostDeviceStep.factory(dev, CpuKernels.scalar(), o.dropout());
    DeviceStep.Factory poisoned = new DeviceStep.Factory() {
      @Override
      public DeviceStep open(io.hiformer.model.PackedParameters packed, io.hiformer.kernels.cuda.FusedOptimizer opt) {
        DeviceStep real = host.open(packed, opt);
        return (batch, seed, optimizer) -> {
          double loss = real.forwardBackward(batch, seed, optimizer);
          float[] g = new float[optimizer.layout().denseFloats()];
          dev.download(optimizer.denseGradients(), g, g.length);
          g[g.length - 1 - packed.layout().width()] = Float.POSITIVE_INFINITY;  // somewhere in the towers
          dev.upload(optimizer.denseGradients(), g, g.length);
          return loss;
        };
      }

      @Override
      public long bytesNeeded(io.hiformer.model.PackedParameters packed, int batchSize) {
        return 0;
      }

      @Override
      public String description() {
        return "poisoned";
      }
    };
    try (Trainer t = Trainer.onDevice(Parameters.initialize(CONFIG, 9), o, CpuKernels.scalar(), dev, poisoned)) {
      Parameters before = t.parameters().copy();
      Batch b = TrainingRunTest.examples(16, 5).batches(16, false, 0).iterator().next();
      assertThatThrownBy(() -> t.step(b)).isInstanceOf(TrainingFailedException.class)
          .hasMessage("step 1: a gradient is not finite");
      t.settle();
      FusedOptimizerEmulationTest.assertClose(t.parameters(), before, "weights after a failed step");
    }
  }
}
