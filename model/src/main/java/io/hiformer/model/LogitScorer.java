package io.hiformer.model;

/**
 * Scores whole batches: the CPU {@link CpuScorer} and the GPU {@link CudaScorer} behind one interface.
 * {@link Backend#open} picks one.
 */
public interface LogitScorer extends AutoCloseable {

  /** Writes the logits of every example of {@code batch} to {@code logits} as {@code [B, T]}. */
  void score(Batch batch, float[] logits);

  /** What runs the model, for logs: e.g. {@code cpu simd-512 x16} or {@code cuda NVIDIA H200 fp32}. */
  String description();

  /** Releases threads or device memory. */
  @Override
  void close();
}
