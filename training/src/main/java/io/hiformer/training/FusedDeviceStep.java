package io.hiformer.training;

import io.hiformer.kernels.cuda.CudaTrainingDevice;
import io.hiformer.kernels.cuda.FusedOptimizer;
import io.hiformer.kernels.cuda.FusedTraining;
import io.hiformer.kernels.cuda.TrainingLayout;
import io.hiformer.model.Batch;
import io.hiformer.model.Dropout;
import io.hiformer.model.PackedParameters;
import jcuda.Pointer;

/**
 * {@link DeviceStep} by the fused training kernels ({@link FusedTraining}: the forward with saved
 * values and the backward, kernels/README.md, Training kernels): the weights, gradients and
 * activations never leave the device; only the batch goes up and the loss comes down.
 */
final class FusedDeviceStep implements DeviceStep {
  private final FusedTraining kernels;

  private FusedDeviceStep(CudaTrainingDevice device, PackedParameters packed) {
    this.kernels = new FusedTraining(device.device(), packed.layout());
  }

  /**
   * The factory for {@link Trainer#onDevice}, or null when the kernels cannot train with these
   * options (then {@code why} says so): dropout draws its masks from the CPU's random stream,
   * which the kernels do not reproduce.
   */
  static Factory factory(CudaTrainingDevice device, Dropout dropout, StringBuilder why) {
    if (dropout != null && dropout.any()) {
      why.append("dropout trains on the CPU model for now (the fused kernels have none)");
      return null;
    }
    return new Factory() {
      @Override
      public DeviceStep open(PackedParameters packed, FusedOptimizer optimizer) {
        return new FusedDeviceStep(device, packed);
      }

      @Override
      public long bytesNeeded(PackedParameters packed, int batchSize) {
        TrainingLayout t = new TrainingLayout(packed.layout());
        return 4L * batchSize * (t.activationFloats() + t.gradientFloats());
      }

      @Override
      public String description() {
        return "the fused CUDA training kernels";
      }
    };
  }

  @Override
  public double forwardBackward(Batch batch, long dropoutSeed, FusedOptimizer optimizer) {
    int n = batch.size();
    return kernels.forwardBackward(n, batch.categoricalIds(), batch.bagOffsetArray(), batch.bagIdArray(),
        batch.denseValues(), batch.labelValues(), batch.labelMaskValues(), n,
        pointer(optimizer.weights()), pointer(optimizer.denseGradients()), pointer(optimizer.embeddingGradients()),
        false);
  }

  private static Pointer pointer(io.hiformer.kernels.cuda.TrainingDevice.Buffer buffer) {
    return CudaTrainingDevice.pointer(buffer);
  }

  @Override
  public void close() {
    kernels.close();
  }
}
