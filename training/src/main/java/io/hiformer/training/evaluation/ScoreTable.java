package io.hiformer.training.evaluation;

import java.util.Arrays;

/**
 * Positive and negative counts per distinct score (a float32 logit), from which the exact AUC
 * (ties count one half, as {@code training.Auc}) and the ROC curve follow.
 *
 * <p>Memory is a hash table of 24-byte slots, 2 to 4 per distinct score, up to {@code limit}
 * distinct scores: at most {@code 48 * limit} bytes. Past the limit, scores are coarsened: keys
 * drop their lowest bit (adjacent floats merge) until half the limit is left, so memory stays
 * bounded and the AUC becomes that of scores rounded to fewer mantissa bits; {@link #shift()} says
 * how many bits were dropped (0: exact).
 */
final class ScoreTable {
  /** Distinct scores kept exactly for all rows (at most 48 MB per table). */
  static final int OVERALL_LIMIT = 1 << 20;
  /** Distinct scores kept exactly per slice value (at most 3 MB per table). */
  static final int SLICE_LIMIT = 1 << 16;
  private static final long EMPTY = Long.MIN_VALUE;

  private final int limit;
  private int shift;
  private long[] keys;
  private long[] pos;
  private long[] neg;
  private int size;

  ScoreTable(int limit) {
    this.limit = limit;
    allocate(16);
  }

  private void allocate(int capacity) {
    keys = new long[capacity];
    Arrays.fill(keys, EMPTY);
    pos = new long[capacity];
    neg = new long[capacity];
    size = 0;
  }

  /** A key that orders like the float (-0 and 0 are one score). */
  static int sortable(float z) {
    int bits = Float.floatToIntBits(z == 0f ? 0f : z);
    return bits ^ ((bits >> 31) & 0x7fffffff);
  }

  static float fromSortable(int key) {
    return Float.intBitsToFloat(key ^ ((key >> 31) & 0x7fffffff));
  }

  void add(float logit, boolean positive) {
    add(sortable(logit), 0, positive ? 1 : 0, positive ? 0 : 1);
  }

  /** Adds counts for {@code key}, a sortable score already shifted right by {@code keyShift}. */
  private void add(long key, int keyShift, long p, long n) {
    while (shift < keyShift) {
      rehash(keys.length, 1);
    }
    insert(key >> (shift - keyShift), p, n);
    if (size * 2 > keys.length) {
      if (size <= limit) {
        rehash(keys.length * 2, 0);
      } else {
        // Halve the resolution until half the limit is left, so a full table is not coarsened at every new key.
        while (size > limit / 2) {
          rehash(keys.length, 1);
        }
      }
    }
  }

  private void insert(long key, long p, long n) {
    int mask = keys.length - 1;
    int i = (int) mix(key) & mask;
    while (keys[i] != EMPTY && keys[i] != key) {
      i = (i + 1) & mask;
    }
    if (keys[i] == EMPTY) {
      keys[i] = key;
      size++;
    }
    pos[i] += p;
    neg[i] += n;
  }

  private void rehash(int capacity, int extraShift) {
    long[] k = keys;
    long[] p = pos;
    long[] n = neg;
    shift += extraShift;
    allocate(capacity);
    for (int i = 0; i < k.length; i++) {
      if (k[i] != EMPTY) {
        insert(k[i] >> extraShift, p[i], n[i]);
      }
    }
  }

  private static long mix(long x) {
    x = (x ^ (x >>> 33)) * 0xff51afd7ed558ccdL;
    x = (x ^ (x >>> 33)) * 0xc4ceb9fe1a85ec53L;
    return x ^ (x >>> 33);
  }

  /** Adds {@code other}'s counts, at the coarser of the two resolutions. */
  void merge(ScoreTable other) {
    for (int i = 0; i < other.keys.length; i++) {
      if (other.keys[i] != EMPTY) {
        add(other.keys[i], other.shift, other.pos[i], other.neg[i]);
      }
    }
  }

  int shift() {
    return shift;
  }

  int distinct() {
    return size;
  }

  /** The counts in ascending score order. */
  Sorted sorted() {
    long[] order = new long[size];
    int j = 0;
    for (int i = 0; i < keys.length; i++) {
      if (keys[i] != EMPTY) {
        order[j++] = keys[i];
      }
    }
    Arrays.sort(order);
    long[] p = new long[size];
    long[] n = new long[size];
    float[] score = new float[size];
    int mask = keys.length - 1;
    for (int r = 0; r < size; r++) {
      int i = (int) mix(order[r]) & mask;
      while (keys[i] != order[r]) {
        i = (i + 1) & mask;
      }
      p[r] = pos[i];
      n[r] = neg[i];
      score[r] = fromSortable((int) (order[r] << shift));
    }
    return new Sorted(score, p, n);
  }

  /** Counts per score, ascending; {@code score} is the lower end of the key's range when coarsened. */
  record Sorted(float[] score, long[] pos, long[] neg) {
    long positives() {
      return Arrays.stream(pos).sum();
    }

    long negatives() {
      return Arrays.stream(neg).sum();
    }

    double auc() {
      return ScoreTable.auc(pos, neg, pos.length);
    }
  }

  /**
   * AUC of per-bin counts in ascending score order, ties (a shared bin) counting one half: the
   * Mann-Whitney statistic. Summed in integers (doubled, so halves stay exact) while they fit, so
   * the result is the exact ratio rounded once. NaN when a class is absent.
   */
  static double auc(long[] pos, long[] neg, int bins) {
    long p = 0;
    long n = 0;
    for (int i = 0; i < bins; i++) {
      p += pos[i];
      n += neg[i];
    }
    if (p == 0 || n == 0) {
      return Double.NaN;
    }
    boolean exact = Math.multiplyHigh(p, 2 * n) == 0 && p * 2 * n >= 0;
    long twiceConcordant = 0;
    double twiceConcordantD = 0;
    long below = 0;
    for (int i = 0; i < bins; i++) {
      if (pos[i] != 0) {
        if (exact) {
          twiceConcordant += pos[i] * (2 * below + neg[i]);
        } else {
          twiceConcordantD += (double) pos[i] * (2.0 * below + neg[i]);
        }
      }
      below += neg[i];
    }
    return (exact ? (double) twiceConcordant : twiceConcordantD) / (2.0 * p * n);
  }
}
