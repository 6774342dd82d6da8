package io.hiformer.ops;

import io.hiformer.kernels.CpuKernels;

/** The {@code --kernels} option's values. */
enum KernelChoice {
  AUTO, SCALAR, SIMD;

  CpuKernels kernels() {
    return switch (this) {
      case AUTO -> CpuKernels.best();
      case SCALAR -> CpuKernels.scalar();
      case SIMD -> CpuKernels.simd();
    };
  }
}
