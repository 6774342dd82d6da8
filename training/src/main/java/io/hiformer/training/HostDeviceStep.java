package io.hiformer.training;

import io.hiformer.kernels.CpuKernels;
import io.hiformer.kernels.cuda.FusedOptimizer;
import io.hiformer.kernels.cuda.TrainingDevice;
import io.hiformer.model.Activations;
import io.hiformer.model.Batch;
import io.hiformer.model.Dropout;
import io.hiformer.model.Hiformer;
import io.hiformer.model.PackedParameters;
import io.hiformer.model.Parameters;

/**
 * {@link DeviceStep} by the CPU model, in one shard: the weights come down from the device, the
 * model's own forward and backward run on the host, the gradients go back up. The reference the
 * fused training kernel is checked against, and what the GPU trainer runs until that kernel is
 * there: the optimiser and everything else still runs on the device.
 */
public final class HostDeviceStep implements DeviceStep {
  private final PackedParameters packed;
  private final TrainingDevice device;
  private final Parameters params;
  private final Parameters grads;
  private final Hiformer model;
  private final Activations act;
  private final TouchedRows touched;
  private final float[] blob;
  private final float[] dEmb;

  HostDeviceStep(PackedParameters packed, FusedOptimizer optimizer, TrainingDevice device, CpuKernels kernels,
      Dropout dropout) {
    this.packed = packed;
    this.device = device;
    this.params = Parameters.zeros(packed.config());
    this.grads = Parameters.zeros(packed.config());
    this.model = new Hiformer(params, kernels);
    this.act = new Activations(packed.config(), optimizer.capacity(), true);
    act.setDropout(packed.config(), dropout);
    this.touched = new TouchedRows(packed.config());
    this.blob = packed.newBuffer();
    this.dEmb = new float[optimizer.capacity() * packed.config().embeddedFields().size() * packed.config().tokenDim()];
  }

  /** The factory for {@link Trainer#onDevice}. */
  public static Factory factory(TrainingDevice device, CpuKernels kernels, Dropout dropout) {
    return new Factory() {
      @Override
      public DeviceStep open(PackedParameters packed, FusedOptimizer optimizer) {
        return new HostDeviceStep(packed, optimizer, device, kernels, dropout);
      }

      @Override
      public long bytesNeeded(PackedParameters packed, int batchSize) {
        return 0;  // its activations live on the host
      }

      @Override
      public String description() {
        return "the CPU model (forward and backward on the host, " + kernels.name() + ")";
      }
    };
  }

  @Override
  public double forwardBackward(Batch batch, long dropoutSeed, FusedOptimizer optimizer) {
    int n = batch.size();
    device.download(optimizer.weights(), blob, blob.length);
    packed.unpack(blob, params);
    act.seedDropout(dropoutSeed);
    model.forward(batch, 0, n, act);
    double loss = model.loss(batch, 0, n, act, n);
    touched.collect(batch);
    model.backward(batch, 0, n, act, grads, n);
    model.embeddingGradients(act, n, dEmb);
    packed.packDense(grads, blob);
    device.upload(optimizer.denseGradients(), blob, packed.layout().denseFloats());
    device.upload(optimizer.embeddingGradients(), dEmb, (long) n * dEmb.length / optimizer.capacity());
    clear();
    return loss;
  }

  /** Zeroes the gradients the backward accumulated: the dense ones and the table rows it touched. */
  private void clear() {
    touched.zero(grads);
  }

}
