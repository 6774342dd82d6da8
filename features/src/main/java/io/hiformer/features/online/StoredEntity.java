package io.hiformer.features.online;

import io.hiformer.features.RawRecord;
import io.hiformer.features.online.StoreSchema.EntitySchema;
import io.hiformer.proto.FeatureValue;
import io.hiformer.proto.StringList;
import java.util.Arrays;
import java.util.List;

/**
 * The stored raw values of one user or item at one moment: an immutable snapshot, replaced as a
 * whole when an update changes it, so a reader sees every field of one state and never a half
 * applied update. Per column it keeps the value with the newest event time and that time; a
 * deleted or never-set column is missing.
 *
 * <p>As a {@link RawRecord} it reads like {@link RawRecord#ofFeatures} over the stored values:
 * categorical text as is, dense values through {@link #isNumber} and {@link #number}, ids as
 * decimal text, bags through {@link #bag}; a missing column is null, so a caller can fall back to
 * another source. Only ids (and numbers read as text) allocate.
 */
public final class StoredEntity implements RawRecord {
  /** Event time of a column no update has touched. */
  static final long NEVER = Long.MIN_VALUE;
  // Markers in refs for values held in numbers.
  static final Object ID = new Object();
  static final Object DENSE = new Object();

  private final EntitySchema schema;
  // For n slots, data[slot] is the event time and data[n + slot] the id or the raw bits of the
  // dense value; refs[slot] is the value (categorical String, bag List<String>, ID, DENSE) or null
  // when missing. Two arrays rather than a FeatureValue per column: fewer objects live per entity,
  // less for the GC to copy on every update.
  final long[] data;
  final Object[] refs;

  StoredEntity(EntitySchema schema, long[] data, Object[] refs) {
    this.schema = schema;
    this.data = data;
    this.refs = refs;
  }

  /** The data array of an entity with {@code n} columns none of which was touched. */
  static long[] emptyData(int n) {
    long[] data = new long[2 * n];
    Arrays.fill(data, 0, n, NEVER);
    return data;
  }

  private long number(int slot) {
    return data[refs.length + slot];
  }

  @Override
  public String value(String column) {
    int slot = schema.slot(column);
    if (slot < 0) {
      return null;
    }
    Object ref = refs[slot];
    if (ref == null || ref instanceof String) {
      return (String) ref;
    }
    if (ref == ID) {
      return Long.toString(number(slot));
    }
    if (ref == DENSE) {
      return Double.toString(Double.longBitsToDouble(number(slot)));
    }
    return ""; // a bag, read as text by a non-bag field: missing, as RawRecord.ofFeatures does
  }

  @Override
  public boolean isNumber(String column) {
    int slot = schema.slot(column);
    return slot >= 0 && refs[slot] == DENSE;
  }

  @Override
  public double number(String column) {
    int slot = schema.slot(column);
    if (slot < 0 || refs[slot] != DENSE) {
      throw new UnsupportedOperationException("column '" + column + "' holds no number");
    }
    return Double.longBitsToDouble(number(slot));
  }

  /** Every value here is stored data: one a field cannot use reads as missing (see {@link RawRecord#isStored}). */
  @Override
  public boolean isStored(String column) {
    return true;
  }

  @Override
  @SuppressWarnings("unchecked")
  public List<String> bag(String column, String separator) {
    int slot = schema.slot(column);
    if (slot >= 0 && refs[slot] instanceof List<?> list) {
      return (List<String>) list;
    }
    return RawRecord.super.bag(column, separator);
  }

  /** The stored value of {@code column} as a new protobuf value (for inspection), or null when missing. */
  FeatureValue feature(String column) {
    int slot = schema.slot(column);
    if (slot < 0 || refs[slot] == null) {
      return null;
    }
    Object ref = refs[slot];
    FeatureValue.Builder v = FeatureValue.newBuilder();
    if (ref instanceof String s) {
      v.setCategorical(s);
    } else if (ref == ID) {
      v.setId(number(slot));
    } else if (ref == DENSE) {
      v.setDense(Double.longBitsToDouble(number(slot)));
    } else {
      @SuppressWarnings("unchecked")
      List<String> items = (List<String>) ref;
      v.setBag(StringList.newBuilder().addAllValues(items));
    }
    return v.build();
  }

  /**
   * The event time (ms since the epoch) of the newest update or delete of {@code column}, or
   * {@link Long#MIN_VALUE} when none touched it.
   */
  public long eventTimeMs(String column) {
    int slot = schema.slot(column);
    return slot < 0 ? NEVER : data[slot];
  }
}
