package io.hiformer.training;

import io.hiformer.kernels.CpuKernels;
import io.hiformer.kernels.cuda.CudaDevice;
import io.hiformer.kernels.cuda.CudaTrainingDevice;
import io.hiformer.kernels.cuda.CudaUnavailableException;
import io.hiformer.kernels.cuda.FusedOptimizer;
import io.hiformer.kernels.cuda.TrainingDevice;
import io.hiformer.model.CudaScorer;
import io.hiformer.model.PackedParameters;
import io.hiformer.model.Parameters;
import java.util.Locale;

/**
 * Where training steps run ({@code train --backend}): {@link #CPU}; {@link #CUDA}, the GPU or a
 * clear error; {@link #AUTO}, the GPU when there is a usable one for this model, else the CPU with
 * one log line saying why. Before a GPU run starts, the memory it needs is checked against what
 * the device has free.
 */
public enum TrainingBackend {
  AUTO, CPU, CUDA;

  /** Opens a trainer on this backend (the caller closes it); throws IllegalStateException where CUDA cannot be had. */
  public Trainer open(Parameters params, Trainer.Options options, CpuKernels kernels, TrainingRun.Progress progress) {
    return open(params, options, kernels, progress, TrainingBackend::gpu);
  }

  /**
   * For {@link #CUDA}, fails now where there is no usable GPU (IllegalStateException: "no usable GPU:
   * why"), so a run that cannot have one stops before it reads any data.
   */
  public void checkDevice() {
    if (this == CUDA) {
      try {
        CudaDevice.shared();
      } catch (CudaUnavailableException e) {
        throw new IllegalStateException("no usable GPU: " + e.getMessage()
            + " (--backend cuda; --backend cpu trains on the CPU)");
      }
    }
  }

  /** The device for a GPU run: GPU 0, or why there is none. */
  private static TrainingDevice gpu() throws CudaUnavailableException {
    return new CudaTrainingDevice(CudaDevice.shared());
  }

  interface DeviceSource {
    TrainingDevice open() throws CudaUnavailableException;
  }

  Trainer open(Parameters params, Trainer.Options options, CpuKernels kernels, TrainingRun.Progress progress,
      DeviceSource source) {
    if (this == CPU) {
      return new Trainer(params, options, kernels);
    }
    String why = CudaScorer.unsupported(params.config());
    TrainingDevice device = null;
    if (why != null) {
      why = "the CUDA kernels cannot train this model: " + why;
    } else {
      try {
        device = source.open();
      } catch (CudaUnavailableException e) {
        why = "no usable GPU: " + e.getMessage();
      }
    }
    if (why != null) {
      if (this == CUDA) {
        throw new IllegalStateException(why + " (--backend cuda; --backend cpu trains on the CPU)");
      }
      progress.line("training on the CPU: " + why);
      return new Trainer(params, options, kernels);
    }
    DeviceStep.Factory step = null;
    if (device instanceof CudaTrainingDevice cuda) {
      StringBuilder host = new StringBuilder();
      step = FusedDeviceStep.factory(cuda, options.dropout(), host);
      if (step == null) {
        progress.line("forward and backward on the host, the optimiser on the GPU: " + host);
      }
    }
    if (step == null) {
      step = HostDeviceStep.factory(device, kernels, options.dropout());
    }
    PackedParameters packed = new PackedParameters(params.config());
    checkMemory(device, packed, options, step);
    progress.line("training on " + device.name() + " (forward and backward: " + step.description() + ")");
    return Trainer.onDevice(params, options, kernels, device, step);
  }

  /** Bags are counted at this many ids an example for the touched-row lists (which grow if they need more). */
  static final int BAG_IDS_ESTIMATE = 16;

  /**
   * Refuses, before anything is allocated, a run whose weights, tables, Adam state, moving
   * average, gradients and activations for one batch exceed the device's free memory.
   */
  static void checkMemory(TrainingDevice device, PackedParameters packed, Trainer.Options options,
      DeviceStep.Factory step) {
    FusedOptimizer.Settings s = DeviceTraining.settings(options);
    long state = FusedOptimizer.bytesNeeded(packed.layout(), s, options.batchSize(),
        (long) BAG_IDS_ESTIMATE * packed.shape().numBag());
    long activations = step.bytesNeeded(packed, options.batchSize());
    long need = state + activations;
    long free = device.freeBytes();
    if (need > free) {
      throw new IllegalStateException(String.format(Locale.ROOT,
          "training on %s needs %s of device memory (weights, tables, Adam state%s and gradients: %s; activations"
              + " for a batch of %d: %s) but %s are free; lower --batch-size or train on the CPU (--backend cpu)",
          device.name(), gib(need), options.ema() > 0 ? ", moving average" : "", gib(state), options.batchSize(),
          gib(activations), gib(free)));
    }
  }

  static String gib(long bytes) {
    return String.format(Locale.ROOT, "%.2f GiB (%,d bytes)", bytes / (double) (1L << 30), bytes);
  }

  /** The choice named on the command line: auto, cpu or cuda. */
  public static TrainingBackend parse(String name) {
    try {
      return valueOf(name.toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("--backend must be auto, cpu or cuda, got '" + name + "'");
    }
  }
}
