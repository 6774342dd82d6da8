package io.hiformer.training;

import io.hiformer.kernels.cuda.FusedOptimizer;
import io.hiformer.kernels.cuda.TrainingDevice;
import io.hiformer.model.Batch;
import io.hiformer.model.PackedParameters;
import io.hiformer.model.Parameters;

/**
 * The device side of a {@link Trainer} on the GPU: weights, Adam's moments and the moving average
 * live there, packed; a step is the {@link DeviceStep}'s forward and backward, the finiteness check
 * and {@link FusedOptimizer}'s update, with nothing copied back. The host's {@link Parameters} and
 * {@link Adam} are brought up to date by {@link #toHost} (the end of every epoch: evaluation,
 * checkpoints) and are uploaded again before the next step, so whatever changed them in between (a
 * restored checkpoint) is what training continues from.
 */
final class DeviceTraining implements AutoCloseable {
  private final PackedParameters packed;
  private final FusedOptimizer optimizer;
  private final DeviceStep step;
  private final long seed;
  private final float[] w;
  private final float[] m;
  private final float[] v;
  private final float[] avg;
  private boolean onDevice;

  DeviceTraining(PackedParameters packed, TrainingDevice device, DeviceStep.Factory factory, Trainer.Options o) {
    this.packed = packed;
    this.optimizer = new FusedOptimizer(device, packed.layout(), settings(o), o.batchSize());
    try {
      this.step = factory.open(packed, optimizer);
    } catch (RuntimeException e) {
      optimizer.close();
      throw e;
    }
    this.seed = o.seed();
    this.w = packed.newBuffer();
    this.m = packed.newBuffer();
    this.v = packed.newBuffer();
    this.avg = o.ema() > 0 ? packed.newBuffer() : null;
  }

  static FusedOptimizer.Settings settings(Trainer.Options o) {
    Adam.Settings a = o.adam();
    return new FusedOptimizer.Settings(a.beta1(), a.beta2(), a.eps(), a.weightDecay(), a.embeddingWeightDecay(),
        a.embeddingL2(), o.ema());
  }

  /** Steps taken: the device's count, or the host's while the host holds the newer state (a restored checkpoint). */
  long steps(Adam adam) {
    return onDevice ? optimizer.steps() : adam.steps();
  }

  /** One step from {@code batch} at rate {@code lr}; the host state is uploaded first when it is newer. */
  double step(Batch batch, double lr, Parameters params, Adam adam, Parameters averaged) {
    if (!onDevice) {
      packed.pack(params, w);
      packed.pack(adam.firstMoments(), m);
      packed.pack(adam.secondMoments(), v);
      if (avg != null) {
        packed.pack(averaged, avg);
      }
      optimizer.upload(w, m, v, avg, adam.steps(), adam.decayProduct());
      onDevice = true;
    }
    int n = batch.size();
    optimizer.clearGradients(n);
    double loss = step.forwardBackward(batch, Trainer.mix(seed, optimizer.steps(), 0), optimizer);
    if (!Double.isFinite(loss) || !optimizer.gradientsFinite(n)) {
      String what = !Double.isFinite(loss) ? "the loss is " + loss : "a gradient is not finite";
      throw new TrainingFailedException("step " + (optimizer.steps() + 1) + ": " + what);
    }
    optimizer.step(n, batch.categoricalIds(), batch.bagOffsetArray(), batch.bagIdArray(), lr);
    return loss;
  }

  /** Settles the lazy decay and copies weights, moments, average and counters into the host's. */
  void toHost(Parameters params, Adam adam, Parameters averaged) {
    if (!onDevice) {
      adam.settle();
      return;
    }
    optimizer.download(w, m, v, avg);
    packed.unpack(w, params);
    packed.unpack(m, adam.firstMoments());
    packed.unpack(v, adam.secondMoments());
    if (avg != null) {
      packed.unpack(avg, averaged);
    }
    adam.restore(optimizer.steps(), optimizer.decayProduct());
    onDevice = false;
  }

  @Override
  public void close() {
    try {
      step.close();
    } finally {
      optimizer.close();
    }
  }
}
