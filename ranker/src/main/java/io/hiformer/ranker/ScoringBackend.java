package io.hiformer.ranker;

import io.hiformer.kernels.cuda.CudaUnavailableException;
import io.hiformer.kernels.cuda.Precision;
import io.hiformer.model.Backend;
import io.hiformer.model.CudaScorer;
import io.hiformer.model.LogitScorer;
import io.hiformer.model.Parameters;
import java.time.Duration;
import java.util.Objects;

/**
 * How this process scores the models it serves: the backend ({@code auto} takes a usable GPU,
 * else the CPU), the GPU's precision, and how concurrent calls are merged into GPU batches
 * ({@link DynamicBatcher}). Part of the {@link Ranker.Options} a ranker starts with, handed to
 * every model it loads ({@link LoadedModel#start}); the default is the CPU.
 *
 * @param maxBatch most candidates in one merged GPU batch
 * @param maxDelay longest a call waits for others to share its batch; zero (the default) waits for
 *     none: a batch takes the calls waiting when the GPU is free, so calls that arrive while one
 *     batch runs make up the next
 */
public record ScoringBackend(Backend backend, Precision precision, int maxBatch, Duration maxDelay) {
  public static final ScoringBackend CPU = new ScoringBackend(Backend.CPU, Precision.FP32, 16_384, Duration.ZERO);

  public ScoringBackend {
    Objects.requireNonNull(backend, "backend");
    Objects.requireNonNull(precision, "precision");
    if (maxBatch < 1) {
      throw new IllegalArgumentException("max batch must be positive, got " + maxBatch);
    }
    if (maxDelay.isNegative()) {
      throw new IllegalArgumentException("max queue delay must not be negative, got " + maxDelay);
    }
  }

  /**
   * A scorer for {@code params}: the CPU with {@code threads} threads, or the GPU behind a
   * {@link DynamicBatcher}. Throws {@link IllegalStateException} if {@code cuda} was asked for and
   * there is no usable GPU.
   */
  LogitScorer open(Parameters params, int threads) {
    LogitScorer scorer;
    try {
      scorer = backend.open(params, threads, precision);
    } catch (CudaUnavailableException e) {
      throw new IllegalStateException("--backend cuda: " + e.getMessage(), e);
    }
    return scorer instanceof CudaScorer
        ? new DynamicBatcher(scorer, params.config(), maxBatch, maxDelay.toNanos())
        : scorer;
  }
}
