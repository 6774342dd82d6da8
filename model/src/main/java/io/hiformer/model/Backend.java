package io.hiformer.model;

import io.hiformer.kernels.CpuKernels;
import io.hiformer.kernels.cuda.CudaUnavailableException;
import io.hiformer.kernels.cuda.Precision;
import java.lang.System.Logger.Level;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/** Where a model is scored: {@code auto} takes the GPU when there is a usable one, else the CPU. */
public enum Backend {
  AUTO, CPU, CUDA;

  private static final System.Logger LOG = System.getLogger(Backend.class.getName());
  private static final Set<String> LOGGED = ConcurrentHashMap.newKeySet();

  /**
   * A scorer for {@code params} on this backend: {@link CpuScorer} with {@code threads} CPU threads,
   * or {@link CudaScorer} at {@code precision}. {@code AUTO} falls back to the CPU with one log
   * line naming the reason; {@code CUDA} throws {@link CudaUnavailableException} instead.
   */
  public LogitScorer open(Parameters params, int threads, Precision precision) throws CudaUnavailableException {
    if (this != CPU) {
      try {
        return new CudaScorer(params, precision);
      } catch (CudaUnavailableException e) {
        if (this == CUDA) {
          throw e;
        }
        if (LOGGED.add(e.getMessage())) {   // once per reason, not once per model version
          LOG.log(Level.INFO, "CUDA unavailable ({0}); scoring on the CPU", e.getMessage());
        }
      }
    }
    return new CpuScorer(new Hiformer(params, CpuKernels.best()), threads);
  }
}
