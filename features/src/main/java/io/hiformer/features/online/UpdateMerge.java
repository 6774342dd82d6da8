package io.hiformer.features.online;

import io.hiformer.features.DenseValues;
import io.hiformer.features.online.Rejection.Reason;
import io.hiformer.features.online.StoreSchema.EntitySchema;
import io.hiformer.proto.EntityKind;
import io.hiformer.proto.FeatureUpdate;
import io.hiformer.proto.FeatureValue;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;

/**
 * The one place of the store's rules for an update of one entity kind: {@link #check} validates
 * it, {@link #merge} applies it to an entity's stored state by last-writer-wins per column. Both
 * stores use it, so they accept, reject and merge alike. Holds scratch arrays: one per writer.
 */
final class UpdateMerge {
  private final EntityKind kind;
  private final EntitySchema schema;
  // Slot and value (as StoredEntity keeps it) per field of the update checked last.
  private int[] slots = new int[16];
  private Object[] pendingRefs = new Object[16];
  private long[] pendingNumbers = new long[16];
  private int count;
  private long time;

  UpdateMerge(EntityKind kind, EntitySchema schema) {
    this.kind = kind;
    this.schema = schema;
  }

  EntitySchema schema() {
    return schema;
  }

  /**
   * Validates {@code u} (of this kind) and keeps its values for {@link #merge}; returns null when
   * it may be applied, else why not.
   */
  Rejection check(FeatureUpdate u) {
    count = 0;
    if (u.getEntityId().isEmpty()) {
      return new Rejection(Reason.MISSING_ENTITY_ID, "entity_id is empty");
    }
    time = u.getEventTimeMs();
    if (time <= 0) {
      return new Rejection(Reason.BAD_EVENT_TIME, "event_time_ms is " + time + "; it must be positive");
    }
    Map<String, FeatureValue> fields = u.getFieldsMap();
    int n = fields.size() + u.getDeletesCount();
    if (slots.length < n) {
      slots = new int[n];
      pendingRefs = new Object[n];
      pendingNumbers = new long[n];
    }
    int k = 0;
    for (Map.Entry<String, FeatureValue> e : fields.entrySet()) {
      int slot = schema.slot(e.getKey());
      if (slot < 0) {
        return unknown(e.getKey());
      }
      FeatureValue v = e.getValue();
      FeatureValue.KindCase kc = v.getKindCase();
      if (kc != FeatureValue.KindCase.KIND_NOT_SET && (schema.accepted[slot] & StoreSchema.bit(kc)) == 0) {
        return new Rejection(Reason.WRONG_TYPE, "field '" + e.getKey() + "' of " + noun() + " takes "
            + accepted(schema.accepted[slot]) + " values, got " + kc.name().toLowerCase(Locale.ROOT));
      }
      slots[k] = slot;
      switch (kc) {
        case CATEGORICAL -> pendingRefs[k] = v.getCategorical();
        case BAG -> pendingRefs[k] = v.getBag().getValuesList();
        case ID -> {
          pendingRefs[k] = StoredEntity.ID;
          pendingNumbers[k] = v.getId();
        }
        case DENSE -> {
          double x = v.getDense();
          String problem = DenseValues.problem(x);
          if (problem != null) {
            Arrays.fill(pendingRefs, 0, k, null);
            return new Rejection(Reason.NOT_FINITE, "field '" + e.getKey() + "' of " + noun() + " " + problem
                + "; dense values must be finite floats");
          }
          pendingRefs[k] = StoredEntity.DENSE;
          pendingNumbers[k] = Double.doubleToRawLongBits(x);
        }
        case KIND_NOT_SET -> pendingRefs[k] = null; // an empty value means missing
      }
      k++;
    }
    for (int i = 0; i < u.getDeletesCount(); i++) {
      String column = u.getDeletes(i);
      int slot = schema.slot(column);
      if (slot < 0) {
        Arrays.fill(pendingRefs, 0, k, null);
        return unknown(column);
      }
      if (fields.containsKey(column)) {
        Arrays.fill(pendingRefs, 0, k, null);
        return new Rejection(Reason.CONFLICTING_DELETE, "field '" + column + "' is both set and deleted");
      }
      slots[k] = slot;
      pendingRefs[k++] = null;
    }
    count = k;
    return null;
  }

  /**
   * The entity after the update last {@link #check}ed: per column its value or delete replaces the
   * stored one when its event time is at least the stored time (ties go to the later delivery, so
   * a replay of the same record is a no-op). Returns {@code old} itself when nothing changed, and
   * a new entity (possibly with no value) when {@code old} is null.
   */
  StoredEntity merge(StoredEntity old) {
    int n = schema.size();
    long[] data = null;
    Object[] refs = null;
    for (int i = 0; i < count; i++) {
      int slot = slots[i];
      if (old != null && time < old.data[slot]) {
        continue;
      }
      if (data == null) {
        data = old == null ? StoredEntity.emptyData(n) : old.data.clone();
        refs = old == null ? new Object[n] : old.refs.clone();
      }
      data[slot] = time;
      data[n + slot] = pendingNumbers[i];
      refs[slot] = pendingRefs[i];
    }
    Arrays.fill(pendingRefs, 0, count, null);
    count = 0;
    if (data != null) {
      return new StoredEntity(schema, data, refs);
    }
    return old != null ? old : new StoredEntity(schema, StoredEntity.emptyData(n), new Object[n]);
  }

  private Rejection unknown(String column) {
    return new Rejection(Reason.UNKNOWN_FIELD, "unknown field '" + column + "' for " + noun()
        + "; stored fields: " + Arrays.toString(schema.columns));
  }

  private String noun() {
    return kind == EntityKind.ENTITY_KIND_USER ? "a user" : "an item";
  }

  private static String accepted(int mask) {
    StringBuilder sb = new StringBuilder();
    for (FeatureValue.KindCase kc : FeatureValue.KindCase.values()) {
      if ((mask & StoreSchema.bit(kc)) != 0) {
        sb.append(sb.isEmpty() ? "" : " or ").append(kc.name().toLowerCase(Locale.ROOT));
      }
    }
    return sb.toString();
  }
}
