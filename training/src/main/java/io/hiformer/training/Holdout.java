package io.hiformer.training;

import io.hiformer.proto.TrainingExample;
import java.nio.charset.StandardCharsets;

/**
 * Which examples of the stream the continuous trainer never trains on: those whose request id
 * hashes into the first {@code fraction} of the hash space. A whole request is on one side, so
 * the gates' ranking metrics (by request) see complete requests, and a version is never gated on
 * examples it learned from. The most recent {@code size} held-out examples form the slice each
 * version is evaluated on.
 */
public record Holdout(double fraction, int size) {
  private static final long BUCKETS = 1_000_000;

  public Holdout {
    if (!(fraction > 0 && fraction < 1)) {
      throw new IllegalArgumentException("holdout fraction must be in (0, 1), got " + fraction);
    }
    if (size < 1) {
      throw new IllegalArgumentException("holdout size must be at least 1, got " + size);
    }
  }

  /** Whether {@code e} is held out (never trained on); a function of its request id alone. */
  public boolean test(TrainingExample e) {
    return heldOut(e.getRequestId(), fraction);
  }

  /** Whether examples of {@code requestId} are held out at {@code fraction}: FNV-1a 64, then a fixed mix. */
  public static boolean heldOut(String requestId, double fraction) {
    long h = 0xcbf29ce484222325L;
    for (byte b : requestId.getBytes(StandardCharsets.UTF_8)) {
      h = (h ^ (b & 0xff)) * 0x100000001b3L;
    }
    h ^= h >>> 33;
    h *= 0xff51afd7ed558ccdL;
    h ^= h >>> 33;
    return Long.remainderUnsigned(h, BUCKETS) < Math.round(fraction * BUCKETS);
  }

  @Override
  public String toString() {
    return fraction + " of requests, last " + size;
  }
}
