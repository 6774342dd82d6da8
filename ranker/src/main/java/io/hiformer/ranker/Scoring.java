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
 * ({@link DynamicBatcher}). {@code serve} sets it once, before loading models; the default is the
 * CPU, as before there was a choice.
 *
 * @param maxBatch most candidates in one merged GPU batch
 * @param maxDelay longest a call waits for others to share its batch; zero (the default) waits for
 *     none: a batch takes the calls waiting when the GPU is free, so calls that arrive while one
 *     batch runs make up the next
 */
public record Scoring(Backend backend, Precision precision, int maxBatch, Duration maxDelay) {
  public static final Scoring CPU = new Scoring(Backend.CPU, Precision.FP32, 16_384, Duration.ZERO);

  private static volatile Scoring current = CPU;

  public Scoring {
    Objects.requireNonNull(backend, "backend");
    Objects.requireNonNull(precision, "precision");
    if (maxBatch < 1) {
      throw new IllegalArgumentException("max batch must be positive, got " + maxBatch);
    }
    if (maxDelay.isNegative()) {
      throw new IllegalArgumentException("max queue delay must not be negative, got " + maxDelay);
    }
  }

  /** Makes {@code scoring} the choice for models loaded from now on. */
  public static void use(Scoring scoring) {
    current = Objects.requireNonNull(scoring, "scoring");
  }

  public static Scoring current() {
    return current;
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
