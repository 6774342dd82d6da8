package io.hiformer.features;

/**
 * What to do with bad rows: skip and count them until more than {@code maxBadRows} were seen,
 * then stop the run. Readers and fitting hand every bad row to {@link #reject}.
 *
 * <p>The count accumulates over everything this instance is given to; for a limit per pass
 * (per epoch), give each pass its own instance. Not thread-safe.
 */
public final class BadRows {
  /** How many bad rows {@link #skipped()} keeps for a report. */
  public static final int KEPT = 10;
  private final long maxBadRows;
  private long count;
  private BadRowException first;
  private final java.util.List<BadRowException> kept = new java.util.ArrayList<>();

  private BadRows(long maxBadRows) {
    if (maxBadRows < 0) {
      throw new IllegalArgumentException("maxBadRows must not be negative, got " + maxBadRows);
    }
    this.maxBadRows = maxBadRows;
  }

  /** Skips up to {@code maxBadRows} bad rows; the next one stops the run. */
  public static BadRows tolerate(long maxBadRows) {
    return new BadRows(maxBadRows);
  }

  /** Stops the run at the first bad row. */
  public static BadRows none() {
    return new BadRows(0);
  }

  /**
   * Counts {@code row}; throws it (with the count) once more than {@code maxBadRows} were
   * rejected, otherwise returns so the caller can skip the row.
   */
  public void reject(BadRowException row) {
    count++;
    if (first == null) {
      first = row;
    }
    if (kept.size() < KEPT) {
      kept.add(row);
    }
    if (count > maxBadRows) {
      String reason = maxBadRows == 0
          ? row.reason()
          : row.reason() + " (bad row " + count + ", more than maxBadRows " + maxBadRows + ")";
      throw new BadRowException(row.location(), reason, row);
    }
  }

  /** Bad rows skipped or stopped at so far. */
  public long count() {
    return count;
  }

  /** The first {@link #KEPT} bad rows, for a report of where rows were skipped. */
  public java.util.List<BadRowException> skipped() {
    return java.util.Collections.unmodifiableList(kept);
  }

  /** The first bad row seen, for a summary; null when there was none. */
  public BadRowException first() {
    return first;
  }
}
