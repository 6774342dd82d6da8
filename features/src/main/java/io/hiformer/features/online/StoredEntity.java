package io.hiformer.features.online;

import io.hiformer.features.online.StoreSchema.EntitySchema;
import io.hiformer.proto.FeatureValue;

/**
 * The stored raw values of one user or item at one moment: an immutable snapshot, replaced as a
 * whole when an update changes it, so a reader sees every field of one state and never a half
 * applied update. Per column it keeps the value with the newest event time and that time; a
 * deleted or never-set column has no value.
 */
public final class StoredEntity {
  /** Event time of a column no update has touched. */
  static final long NEVER = Long.MIN_VALUE;

  private final EntitySchema schema;
  // Indexed by the schema's slot; values[i] is null when column i is missing.
  final long[] times;
  final FeatureValue[] values;

  StoredEntity(EntitySchema schema, long[] times, FeatureValue[] values) {
    this.schema = schema;
    this.times = times;
    this.values = values;
  }

  /** The stored value of {@code column}, or null when it is missing, deleted or not a stored column. */
  public FeatureValue value(String column) {
    int slot = schema.slot(column);
    return slot < 0 ? null : values[slot];
  }

  /**
   * The event time (ms since the epoch) of the newest update or delete of {@code column}, or
   * {@link Long#MIN_VALUE} when none touched it.
   */
  public long eventTimeMs(String column) {
    int slot = schema.slot(column);
    return slot < 0 ? NEVER : times[slot];
  }
}
