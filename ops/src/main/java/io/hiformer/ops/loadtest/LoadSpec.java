package io.hiformer.ops.loadtest;

import java.util.Map;

/**
 * What every run shares: the requests (seeded, {@code distinct} built up front and cycled so
 * building them costs the measured machine nothing) and the measured window.
 *
 * @param candidates candidates per request
 * @param context categorical context pairs sent with every request
 * @param seed seed of the first generator; generator {@code g} of a run uses {@code seed + g}
 * @param distinct requests each generator builds up front
 * @param warmupSeconds load before measuring
 * @param durationSeconds measured load
 * @param deadlineMs per-call deadline, or null for none
 */
public record LoadSpec(int candidates, Map<String, String> context, long seed, int distinct, double warmupSeconds,
    double durationSeconds, Long deadlineMs) {

  /** The nanoTime at which measuring starts, for a run that started at {@code start}. */
  long measureFrom(long start) {
    return start + nanos(warmupSeconds);
  }

  /** The nanoTime at which a run that started at {@code start} ends. */
  long end(long start) {
    return measureFrom(start) + nanos(durationSeconds);
  }

  private static long nanos(double s) {
    return Math.round(s * 1e9);
  }
}
