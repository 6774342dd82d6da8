package io.hiformer.kernels;

import java.lang.System.Logger.Level;

/** Chooses the kernel implementation once per JVM, as Lucene's VectorizationProvider does. */
final class KernelSelector {
  private static final System.Logger LOG = System.getLogger(CpuKernels.class.getName());

  /** Set {@code -Dhiformer.kernels=scalar} to force the scalar path (for comparisons). */
  static final CpuKernels BEST = choose();

  private KernelSelector() {}

  private static CpuKernels choose() {
    String forced = System.getProperty("hiformer.kernels", "auto");
    if (forced.equals("scalar")) {
      LOG.log(Level.INFO, "CPU kernels: scalar (forced by -Dhiformer.kernels=scalar)");
      return ScalarKernels.INSTANCE;
    }
    try {
      CpuKernels simd = simd();
      LOG.log(Level.DEBUG, "CPU kernels: {0}", simd.name());
      return simd;
    } catch (UnsupportedOperationException | LinkageError e) {
      LOG.log(Level.INFO, "CPU kernels: scalar ({0})", e.getMessage());
      return ScalarKernels.INSTANCE;
    }
  }

  static CpuKernels simd() {
    if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
      throw new UnsupportedOperationException(
          "the Vector API is not enabled: run with --add-modules jdk.incubator.vector");
    }
    if (SimdHolder.INSTANCE == null) {
      throw new UnsupportedOperationException(SimdHolder.REFUSAL);
    }
    return SimdHolder.INSTANCE;
  }

  /**
   * Loaded only once the module check passed, so the scalar path never touches Vector API classes.
   * A refusal is kept, not thrown from the initialiser: that would surface as an
   * ExceptionInInitializerError, then NoClassDefFoundError, instead of the documented exception.
   */
  private static final class SimdHolder {
    static final CpuKernels INSTANCE;
    static final String REFUSAL;

    static {
      CpuKernels simd = null;
      String refusal = null;
      try {
        simd = SimdKernels.create();
      } catch (UnsupportedOperationException e) {
        refusal = e.getMessage();
      }
      INSTANCE = simd;
      REFUSAL = refusal;
    }
  }
}
