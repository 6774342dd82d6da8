package io.hiformer.ranker;

import java.util.HashSet;
import java.util.Set;

/**
 * One Rank call's reusable buffers for one model: the request's rows, logits (turned into
 * probabilities in place), combined scores, sort keys and the set that finds duplicate item ids.
 * Borrowed from the model for a call and given back after it, so a steady stream of calls
 * allocates no batch-sized arrays.
 */
final class CallBuffers {
  final RequestRows rows;
  final float[] probabilities;
  final float[] scores;
  /** Per candidate: its score's descending sort key in the high half, its index in the low. */
  final long[] order;
  final Set<String> itemIds = new HashSet<>();
  private final RankOptions options;

  CallBuffers(LoadedModel model, RankOptions options) {
    this.options = options;
    int n = options.maxCandidates();
    this.rows = new RequestRows(model, options.userColumn(), options.itemColumn(), n,
        model.itemRows(options.itemCacheRows()));
    this.probabilities = new float[n * model.parameters().config().numTasks()];
    this.scores = new float[n];
    this.order = new long[n];
  }

  boolean fits(RankOptions o) {
    return o.maxCandidates() <= options.maxCandidates() && o.userColumn().equals(options.userColumn())
        && o.itemColumn().equals(options.itemColumn());
  }

  /**
   * Sorts candidates {@code 0..n-1} best first by {@link #scores}, ties in request order, into
   * {@link #order} (read the index with {@link #index}); allocation-free.
   */
  void sortBestFirst(int n) {
    for (int i = 0; i < n; i++) {
      // Negated so that ascending order is best first; the float's bits made to sort as an int.
      int bits = Float.floatToIntBits(-scores[i] + 0f);
      int key = bits ^ ((bits >> 31) & 0x7fffffff);
      order[i] = ((long) key << 32) | i;
    }
    java.util.Arrays.sort(order, 0, n);
  }

  int index(int position) {
    return (int) order[position];
  }
}
