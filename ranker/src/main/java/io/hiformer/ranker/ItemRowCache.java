package io.hiformer.ranker;

import io.hiformer.features.online.StoredEntity;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One model version's item rows, transformed once and kept: per item id, the item side's model
 * inputs (categorical ids, bag ids, dense values after the transforms) as the item's stored
 * features made them. Held by a {@link LoadedModel}, so a swap starts from an empty cache.
 *
 * <p>Staleness: a row remembers the {@link StoredEntity} snapshot it was made from and is only
 * used while the store still returns that same snapshot. The store replaces an entity's snapshot
 * as a whole on every update or removal, so an update makes the cached row unusable at once, with
 * no invalidation hook. (A store that builds a new snapshot per read only misses, never serves stale
 * rows.) Rows that depend on the request (a candidate's own features, item columns in the context)
 * are never read from or put here: {@link RequestRows} decides.
 *
 * <p>Bound: two generations of at most {@code maxRows / 2} rows each. Rows go into the young
 * generation; when it is full it becomes the old one and the old one is dropped. A row found in
 * the old generation is copied into the young one, so rows used within the last generation survive:
 * least recently used, approximately, without touching shared state on a hit. Concurrent puts can
 * overshoot a generation by one row per calling thread.
 */
final class ItemRowCache {
  /** The default bound on rows per model version. */
  static final int DEFAULT_MAX_ROWS = 100_000;

  /**
   * One item's model inputs, in the model's field order; positions of user and context fields are
   * unused. {@code unusable} names stored fields that read as missing, reported again on each hit.
   * Shared by all calls: never written after construction.
   */
  record Row(StoredEntity stored, int[] categorical, int[][] bags, float[] dense, String[] unusable) {}

  private final int generationRows;
  private final AtomicInteger youngRows = new AtomicInteger();
  private volatile ConcurrentHashMap<String, Row> young = new ConcurrentHashMap<>();
  private volatile ConcurrentHashMap<String, Row> old = new ConcurrentHashMap<>();

  /** A cache of at most about {@code maxRows} rows (at least 2). */
  ItemRowCache(int maxRows) {
    if (maxRows < 2) {
      throw new IllegalArgumentException("maxRows must be at least 2, got " + maxRows);
    }
    this.generationRows = maxRows / 2;
  }

  /** The row of item {@code id} made from {@code stored} (null: the store does not hold it), or null. */
  Row get(String id, StoredEntity stored) {
    Row r = young.get(id);
    if (r == null) {
      r = old.get(id);
      if (r != null && r.stored == stored) {
        put(id, r);
      }
    }
    return r != null && r.stored == stored ? r : null;
  }

  void put(String id, Row row) {
    if (young.put(id, row) == null && youngRows.incrementAndGet() >= generationRows) {
      rotate();
    }
  }

  private synchronized void rotate() {
    if (youngRows.get() < generationRows) {
      return; // another thread rotated
    }
    old = young;
    young = new ConcurrentHashMap<>();
    youngRows.set(0);
  }

  /** Rows held now (both generations). */
  int size() {
    return young.size() + old.size();
  }
}
