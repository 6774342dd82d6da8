package io.hiformer.training;

import io.hiformer.kernels.cuda.FusedOptimizer;
import io.hiformer.model.Batch;
import io.hiformer.model.PackedParameters;

/**
 * The forward and backward of one training step on the device, for the GPU trainer: what the fused
 * training kernel provides ({@link HostDeviceStep} stands in for it on the CPU). The trainer owns the
 * buffers ({@link FusedOptimizer}): it zeroes the gradients before each call and runs the optimiser
 * after it.
 */
public interface DeviceStep extends AutoCloseable {

  /** Opens the step for a model's packing and the optimiser's buffers (batches up to its capacity). */
  interface Factory {
    DeviceStep open(PackedParameters packed, FusedOptimizer optimizer);

    /**
     * Bytes of device memory the step needs beyond the optimiser's buffers for batches of {@code
     * batchSize} (saved activations, its own inputs), for the memory check before training.
     */
    long bytesNeeded(PackedParameters packed, int batchSize);

    /** What runs the forward and backward, for the log line. */
    String description();
  }

  /**
   * The forward and backward of examples {@code [0, batch.size())}, reading the packed weights in
   * {@code optimizer.weights()} ({@link io.hiformer.kernels.cuda.Precision#FP32} packing, tables
   * included). Writes, into the zeroed buffers:
   * <ul>
   *   <li>{@code optimizer.denseGradients()}: the gradient of the batch's mean loss (docs/model.md,
   *       Loss) with respect to every non-embedding parameter, in the same packed layout (padding 0);
   *   <li>{@code optimizer.embeddingGradients()}: {@code [n][nemb][d]}, the gradient with respect to
   *       each embedded field's pooled vector (a bag's average), fields in FusedLayout's order.
   * </ul>
   * Dropout masks come from {@code dropoutSeed} (the CPU trainer's seed of this step's only shard).
   * Returns the batch's mean loss.
   */
  double forwardBackward(Batch batch, long dropoutSeed, FusedOptimizer optimizer);

  @Override
  default void close() {}
}
