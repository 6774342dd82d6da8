package io.hiformer.model;

import java.util.Arrays;

/** Test access to a batch's bag ids, which {@link Batch} keeps package-private. */
public final class BatchPeek {
  private BatchPeek() {}

  /** The ids of bag field {@code k} of example {@code b}. */
  public static int[] bag(Batch batch, int b, int k, int numBags) {
    return Arrays.copyOfRange(batch.bagIds, batch.bagOffsets[b * numBags + k], batch.bagOffsets[b * numBags + k + 1]);
  }
}
