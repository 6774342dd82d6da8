package io.hiformer.kernels;

/** Placeholder until the Vector API implementation lands. */
final class SimdKernels {
  private SimdKernels() {}

  static CpuKernels create() {
    throw new UnsupportedOperationException("SIMD kernels not built yet");
  }
}
