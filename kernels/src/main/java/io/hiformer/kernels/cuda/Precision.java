package io.hiformer.kernels.cuda;

/** How the fused kernel multiplies: both run on the tensor cores and accumulate in fp32. */
public enum Precision {
  /**
   * fp32 accuracy: each operand is split into a tf32 head and tail and three products are summed
   * (3xTF32), so every product keeps about 21 bits. Logits agree with the CPU within 1e-4.
   */
  FP32(3),
  /** Plain tf32 operands (10-bit mantissa): about three times fewer products, larger error. */
  TF32(1);

  final int passes;

  Precision(int passes) {
    this.passes = passes;
  }
}
