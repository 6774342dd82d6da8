package io.hiformer.training;

import io.hiformer.kernels.CpuKernels;
import io.hiformer.kernels.cuda.TrainingDevice;
import io.hiformer.model.Activations;
import io.hiformer.model.Batch;
import io.hiformer.model.Dropout;
import io.hiformer.model.Hiformer;
import io.hiformer.model.Parameters;

/**
 * Data-parallel training steps through the model's own forward and backward: each batch is cut
 * into one contiguous shard per thread, each shard's gradients land in that thread's buffers, and
 * the buffers are summed in a fixed order before one optimiser update. The same seed, data order
 * and thread count give the same model, bit for bit.
 *
 * <p>On a GPU ({@link #onDevice}) the weights, Adam's state and the moving average live on the
 * device and a step runs there ({@link DeviceTraining}); {@link #settle()} brings the host's copies
 * up to date, which is what evaluation, checkpoints and the final model read.
 */
public final class Trainer implements AutoCloseable {

  /**
   * Step settings. {@code warmupSteps} ramps the learning rate linearly from 0 to {@code lr}.
   * {@code ema} above 0 keeps an exponential moving average of the weights (decay {@code ema},
   * less in the first steps), which is what evaluation and the final model use.
   */
  public record Options(int batchSize, double lr, int warmupSteps, Dropout dropout, Adam.Settings adam,
      int threads, long seed, double ema) {
    public Options {
      if (batchSize <= 0 || threads <= 0 || !(lr > 0)) {
        throw new IllegalArgumentException("batch size, threads and learning rate must be positive");
      }
      if (!(ema >= 0 && ema < 1)) {
        throw new IllegalArgumentException("ema must be in [0, 1), got " + ema);
      }
    }

    public Options(int batchSize, double lr, int warmupSteps, Dropout dropout, Adam.Settings adam, int threads,
        long seed) {
      this(batchSize, lr, warmupSteps, dropout, adam, threads, seed, 0);
    }
  }

  private final Parameters params;
  private final Options options;
  private final Hiformer model;
  private final Adam adam;
  private final WorkerPool pool;
  private final Activations[] acts;
  private final Parameters[] grads;
  private final double[] shardLoss;
  private final TouchedRows touched;
  private final Parameters averaged;
  private final Hiformer averagedModel;
  private final WorkerPool.Job shardJob = this::runShard;
  private final DeviceTraining device;
  private Batch current;

  /** Trains on the CPU, on {@code options.threads()} threads. */
  public Trainer(Parameters params, Options options, CpuKernels kernels) {
    this(params, options, kernels, null, null);
  }

  /**
   * Trains on {@code device}: the forward and backward by {@code step}, the optimiser by optim.cu.
   * {@code kernels} serve evaluation on the host. The config must be one the CUDA kernels run
   * ({@link io.hiformer.model.CudaScorer#unsupported}).
   */
  public static Trainer onDevice(Parameters params, Options options, CpuKernels kernels, TrainingDevice device,
      DeviceStep.Factory step) {
    return new Trainer(params, options, kernels, device, step);
  }

  private Trainer(Parameters params, Options options, CpuKernels kernels, TrainingDevice dev,
      DeviceStep.Factory step) {
    this.params = params;
    this.options = options;
    this.model = new Hiformer(params, kernels);
    this.adam = new Adam(params, options.adam());
    this.device = dev == null ? null
        : new DeviceTraining(new io.hiformer.model.PackedParameters(params.config()), dev, step, options);
    int t = dev == null ? options.threads() : 0;
    this.pool = dev == null ? new WorkerPool(t, "hiformer-trainer") : null;
    int shard = t == 0 ? 0 : (options.batchSize() + t - 1) / t;
    this.acts = new Activations[t];
    this.grads = new Parameters[t];
    for (int i = 0; i < t; i++) {
      acts[i] = new Activations(params.config(), shard, true);
      acts[i].setDropout(params.config(), options.dropout());
      grads[i] = Parameters.zeros(params.config());
    }
    this.shardLoss = new double[t];
    this.touched = new TouchedRows(params.config());
    this.averaged = options.ema() > 0 ? params.copy() : null;
    this.averagedModel = averaged == null ? model : new Hiformer(averaged, kernels);
  }

  /** The weights evaluation uses: the moving average when on, else the trained weights. */
  Parameters evaluationParameters() {
    return averaged == null ? params : averaged;
  }

  /** The model over {@link #evaluationParameters()}. */
  Hiformer evaluationModel() {
    return averagedModel;
  }

  public Hiformer model() {
    return model;
  }

  Adam optimizer() {
    return adam;
  }

  public Options options() {
    return options;
  }

  /**
   * One update from {@code batch} (at most the configured batch size); returns its mean loss.
   * A non-finite loss or gradient throws {@link TrainingFailedException} before the weights
   * change, so a diverging step never reaches them.
   */
  public double step(Batch batch) {
    if (batch.size() > options.batchSize() || batch.size() == 0) {
      throw new IllegalArgumentException("batch of " + batch.size() + " outside 1.." + options.batchSize());
    }
    if (device != null) {
      return device.step(batch, learningRate(device.steps(adam) + 1), params, adam, averaged);
    }
    touched.collect(batch);
    current = batch;
    pool.run(shardJob, acts.length);
    current = null;
    double loss = 0;
    for (double l : shardLoss) {
      loss += l;
    }
    reduceGradients();
    if (!Double.isFinite(loss) || !gradientsFinite()) {
      String what = !Double.isFinite(loss) ? "the loss is " + loss : "a gradient is not finite";
      clearGradients();
      throw new TrainingFailedException("step " + (adam.steps() + 1) + ": " + what);
    }
    adam.step(grads[0], touched, learningRate(adam.steps() + 1));
    clearGradients();
    if (averaged != null) {
      updateAverage();
    }
    return loss;
  }

  /**
   * Initialises embedding rows an open vocabulary admitted (new or recycled; {@link
   * io.hiformer.features.OpenVocabularies#drain}) between steps: in the weights and the moving
   * average each starts as row 0 of its table ({@link NewRows}), and its Adam moments start at zero.
   */
  public void initialiseRows(String tensor, int[] rows) {
    if (device != null) {
      // the device holds the weights between epochs; its row initialisation is not built yet
      throw new IllegalStateException("open vocabularies grow on the CPU backend only, for now (train --backend cpu)");
    }
    NewRows.initialise(params, tensor, rows);
    if (averaged != null) {
      NewRows.initialise(averaged, tensor, rows);
    }
    adam.resetRows(tensor, rows);
  }

  /**
   * Brings the weights up to date with the lazy embedding decay ({@link Adam#settle()}); on a GPU,
   * also copies the weights, Adam's state and the moving average back to the host. Call before
   * reading the weights (evaluation, checkpoints).
   */
  public void settle() {
    if (device != null) {
      device.toHost(params, adam, averaged);
    } else {
      adam.settle();
    }
  }

  /** Whether steps run on a GPU. */
  public boolean onGpu() {
    return device != null;
  }

  /** The warm-up schedule: linear from 0 to the configured rate over the warm-up steps. */
  double learningRate(long step) {
    int w = options.warmupSteps();
    return w <= 0 || step >= w ? options.lr() : options.lr() * step / w;
  }

  private void runShard(int worker, int shard) {
    Batch b = current;
    int per = (b.size() + acts.length - 1) / acts.length;
    int from = Math.min(b.size(), shard * per);
    int n = Math.min(per, b.size() - from);
    shardLoss[shard] = 0;
    if (n == 0) {
      return;
    }
    Activations act = acts[shard];
    act.seedDropout(mix(options.seed(), adam.steps(), shard));
    model.forward(b, from, n, act);
    shardLoss[shard] = model.loss(b, from, n, act, b.size());
    model.backward(b, from, n, act, grads[shard], b.size());
  }

  private void reduceGradients() {
    for (Parameters.Tensor t : grads[0].tensors()) {
      float[] sum = t.data();
      if (Parameters.isEmbedding(t.name())) {
        int d = t.shape()[1];
        TouchedRows.Table rows = touched.table(t.name());
        for (int w = 1; w < grads.length; w++) {
          float[] g = grads[w].get(t.name());
          for (int k = 0; k < rows.count(); k++) {
            for (int i = rows.row(k) * d, end = i + d; i < end; i++) {
              sum[i] += g[i];
            }
          }
        }
      } else {
        for (int w = 1; w < grads.length; w++) {
          float[] g = grads[w].get(t.name());
          for (int i = 0; i < sum.length; i++) {
            sum[i] += g[i];
          }
        }
      }
    }
  }

  /** Whether the summed gradients are finite: a sum in double is NaN or infinite exactly when one is. */
  private boolean gradientsFinite() {
    for (Parameters.Tensor t : grads[0].tensors()) {
      float[] g = t.data();
      double sum = 0;
      if (Parameters.isEmbedding(t.name())) {
        int d = t.shape()[1];
        TouchedRows.Table rows = touched.table(t.name());
        for (int k = 0; k < rows.count(); k++) {
          for (int i = rows.row(k) * d, end = i + d; i < end; i++) {
            sum += g[i];
          }
        }
      } else {
        for (float v : g) {
          sum += v;
        }
      }
      if (!Double.isFinite(sum)) {
        return false;
      }
    }
    return true;
  }

  private void clearGradients() {
    for (Parameters g : grads) {
      touched.zero(g);
    }
  }

  private void updateAverage() {
    long t = adam.steps();
    float decay = (float) Math.min(options.ema(), (1.0 + t) / (10.0 + t));
    for (Parameters.Tensor a : averaged.tensors()) {
      float[] avg = a.data();
      float[] w = params.get(a.name());
      for (int i = 0; i < avg.length; i++) {
        avg[i] += (1 - decay) * (w[i] - avg[i]);
      }
    }
  }

  static long mix(long seed, long step, int shard) {
    long z = seed * 0x9E3779B97F4A7C15L + step * 0xBF58476D1CE4E5B9L + shard * 0x94D049BB133111EBL;
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  @Override
  public void close() {
    if (device != null) {
      device.close();
    } else {
      pool.close();
    }
  }

  Parameters parameters() {
    return params;
  }
}
