package io.hiformer.features.online;

import io.hiformer.features.online.Rejection.Reason;
import io.hiformer.features.online.StoreSchema.EntitySchema;
import io.hiformer.proto.EntityKind;
import io.hiformer.proto.FeatureUpdate;
import io.hiformer.proto.FeatureValue;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The entities of one kind. Readers take a {@link StoredEntity} snapshot from a
 * {@link ConcurrentHashMap} without locking; writers are serialised on this table, build the
 * next snapshot and publish it with one volatile write. At most {@code maxEntities} are kept: a
 * new entity beyond that evicts the least recently written one (reads do not count, so the read
 * path never writes).
 */
final class EntityTable {
  private final EntityKind kind;
  private final EntitySchema schema;
  private final int maxEntities;
  private final ConcurrentHashMap<String, Node> byId;
  // Least recently written first; guarded by this.
  private Node oldest;
  private Node newest;
  // Slot and value per field of the update being applied; guarded by this.
  private int[] slots = new int[16];
  private FeatureValue[] pending = new FeatureValue[16];
  private volatile int size;
  private volatile long evictions;

  EntityTable(EntityKind kind, EntitySchema schema, int maxEntities) {
    if (maxEntities < 1) {
      throw new IllegalArgumentException("maxEntities must be positive, got " + maxEntities);
    }
    this.kind = kind;
    this.schema = schema;
    this.maxEntities = maxEntities;
    this.byId = new ConcurrentHashMap<>();
  }

  /** One entity's place in the table; its snapshot changes, the node stays until removal. */
  private static final class Node {
    final String id;
    volatile StoredEntity entity;
    Node older;
    Node newer;

    Node(String id) {
      this.id = id;
    }
  }

  StoredEntity get(String id) {
    Node n = byId.get(id);
    return n == null ? null : n.entity;
  }

  int size() {
    return size;
  }

  int maxEntities() {
    return maxEntities;
  }

  long evictions() {
    return evictions;
  }

  /**
   * Validates {@code u} (of this table's kind) and merges it: per column, a value or delete
   * replaces the stored one when its event time is at least the stored time. A rejected update
   * changes nothing.
   */
  synchronized Rejection apply(FeatureUpdate u) {
    String id = u.getEntityId();
    if (id.isEmpty()) {
      return new Rejection(Reason.MISSING_ENTITY_ID, "entity_id is empty");
    }
    long time = u.getEventTimeMs();
    if (time <= 0) {
      return new Rejection(Reason.BAD_EVENT_TIME, "event_time_ms is " + time + "; it must be positive");
    }
    Map<String, FeatureValue> fields = u.getFieldsMap();
    int n = fields.size() + u.getDeletesCount();
    if (slots.length < n) {
      slots = new int[n];
      pending = new FeatureValue[n];
    }
    int k = 0;
    for (Map.Entry<String, FeatureValue> e : fields.entrySet()) {
      int slot = schema.slot(e.getKey());
      if (slot < 0) {
        return unknown(e.getKey());
      }
      FeatureValue v = e.getValue();
      FeatureValue.KindCase kc = v.getKindCase();
      if (kc == FeatureValue.KindCase.KIND_NOT_SET) {
        v = null; // an empty value means missing
      } else if ((schema.accepted[slot] & StoreSchema.bit(kc)) == 0) {
        return new Rejection(Reason.WRONG_TYPE, "field '" + e.getKey() + "' of " + noun() + " takes "
            + accepted(schema.accepted[slot]) + " values, got " + kc.name().toLowerCase(java.util.Locale.ROOT));
      } else if (kc == FeatureValue.KindCase.DENSE && !Double.isFinite(v.getDense())) {
        return new Rejection(Reason.NOT_FINITE, "field '" + e.getKey() + "' of " + noun() + " is " + v.getDense()
            + "; dense values must be finite");
      }
      slots[k] = slot;
      pending[k++] = v;
    }
    for (int i = 0; i < u.getDeletesCount(); i++) {
      String column = u.getDeletes(i);
      int slot = schema.slot(column);
      if (slot < 0) {
        return unknown(column);
      }
      if (fields.containsKey(column)) {
        return new Rejection(Reason.CONFLICTING_DELETE, "field '" + column + "' is both set and deleted");
      }
      slots[k] = slot;
      pending[k++] = null;
    }
    merge(id, time, k);
    return null;
  }

  /** Removes an entity (a tombstone on the compacted topic). */
  synchronized void remove(String id) {
    Node n = byId.remove(id);
    if (n != null) {
      unlink(n);
      size--;
    }
  }

  private void merge(String id, long time, int count) {
    Node node = byId.get(id);
    StoredEntity old = node == null ? null : node.entity;
    long[] times = null;
    FeatureValue[] values = null;
    for (int i = 0; i < count; i++) {
      int slot = slots[i];
      // Ties go to the later delivery, so a replay of the same record is a no-op.
      if (old != null && time < old.times[slot]) {
        continue;
      }
      if (times == null) {
        times = old == null ? newTimes() : old.times.clone();
        values = old == null ? new FeatureValue[schema.size()] : old.values.clone();
      }
      times[slot] = time;
      values[slot] = pending[i];
    }
    Arrays.fill(pending, 0, count, null);
    if (node == null) {
      if (size >= maxEntities) {
        evictOldest();
      }
      node = new Node(id);
      node.entity = new StoredEntity(schema, times == null ? newTimes() : times,
          values == null ? new FeatureValue[schema.size()] : values);
      byId.put(id, node);
      size++;
    } else {
      if (times != null) {
        node.entity = new StoredEntity(schema, times, values);
      }
      unlink(node);
    }
    append(node);
  }

  private long[] newTimes() {
    long[] t = new long[schema.size()];
    Arrays.fill(t, StoredEntity.NEVER);
    return t;
  }

  private void evictOldest() {
    Node victim = oldest;
    byId.remove(victim.id);
    unlink(victim);
    size--;
    evictions++;
  }

  private void append(Node n) {
    n.older = newest;
    n.newer = null;
    if (newest != null) {
      newest.newer = n;
    } else {
      oldest = n;
    }
    newest = n;
  }

  private void unlink(Node n) {
    if (n.older != null) {
      n.older.newer = n.newer;
    } else {
      oldest = n.newer;
    }
    if (n.newer != null) {
      n.newer.older = n.older;
    } else {
      newest = n.older;
    }
    n.older = null;
    n.newer = null;
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
        sb.append(sb.isEmpty() ? "" : " or ").append(kc.name().toLowerCase(java.util.Locale.ROOT));
      }
    }
    return sb.toString();
  }
}
