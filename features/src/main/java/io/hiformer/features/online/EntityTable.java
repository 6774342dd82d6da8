package io.hiformer.features.online;

import io.hiformer.features.DenseValues;
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
 * next snapshot and publish it with one volatile write.
 *
 * <p>At most {@code maxEntities} are kept. Beyond that a new entity evicts one chosen by CLOCK
 * (second chance) over writes: entities sit in a ring; a write to a stored entity marks it, and
 * the hand sweeping the ring clears marks and evicts the first unmarked entity, i.e. one not
 * written again since it was added or since the hand last passed it. This approximates least-recently-written without touching other
 * entities on each write; reads never mark, so the read path never writes.
 */
final class EntityTable {
  private final EntityKind kind;
  private final EntitySchema schema;
  private final int maxEntities;
  private final ConcurrentHashMap<String, Node> byId;
  // The CLOCK ring, guarded by this: slots [0, used) were handed out, free[0, freeCount) are
  // slots of removed entities (null in the ring) to reuse first; the ring grows up to maxEntities.
  private Node[] ring = new Node[64];
  private int used;
  private int[] free = new int[16];
  private int freeCount;
  private int hand;
  // Slot and value (as StoredEntity keeps it) per field of the update being applied; guarded by this.
  private int[] slots = new int[16];
  private Object[] pendingRefs = new Object[16];
  private long[] pendingNumbers = new long[16];
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
    // Writer-side only: the ring slot and the CLOCK mark.
    int slot;
    boolean written;

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
            + accepted(schema.accepted[slot]) + " values, got " + kc.name().toLowerCase(java.util.Locale.ROOT));
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
        return unknown(column);
      }
      if (fields.containsKey(column)) {
        return new Rejection(Reason.CONFLICTING_DELETE, "field '" + column + "' is both set and deleted");
      }
      slots[k] = slot;
      pendingRefs[k++] = null;
    }
    merge(id, time, k);
    return null;
  }

  /** Removes an entity (a tombstone on the compacted topic). */
  synchronized void remove(String id) {
    Node n = byId.remove(id);
    if (n != null) {
      ring[n.slot] = null;
      if (freeCount == free.length) {
        free = Arrays.copyOf(free, 2 * free.length);
      }
      free[freeCount++] = n.slot;
      size--;
    }
  }

  private void merge(String id, long time, int count) {
    int n = schema.size();
    Node node = byId.get(id);
    StoredEntity old = node == null ? null : node.entity;
    long[] data = null;
    Object[] refs = null;
    for (int i = 0; i < count; i++) {
      int slot = slots[i];
      // Ties go to the later delivery, so a replay of the same record is a no-op.
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
    if (node == null) {
      node = new Node(id);
      node.entity = new StoredEntity(schema, data == null ? StoredEntity.emptyData(n) : data,
          refs == null ? new Object[n] : refs);
      place(node);
      byId.put(id, node);
      size++;
    } else {
      if (data != null) {
        node.entity = new StoredEntity(schema, data, refs);
      }
      node.written = true;
    }
  }

  /** Gives a new node a ring slot: a freed one, a new one below the limit, else an evicted entity's. */
  private void place(Node node) {
    int slot;
    if (freeCount > 0) {
      slot = free[--freeCount];
    } else if (used < maxEntities) {
      if (used == ring.length) {
        ring = Arrays.copyOf(ring, (int) Math.min(maxEntities, 2L * ring.length));
      }
      slot = used++;
    } else {
      slot = evict();
    }
    ring[slot] = node;
    node.slot = slot;
  }

  /** Sweeps the full ring (every slot holds a node) to the first entity not written since the last pass. */
  private int evict() {
    while (true) {
      int slot = hand;
      hand = hand + 1 == used ? 0 : hand + 1;
      Node n = ring[slot];
      if (n.written) {
        n.written = false;
      } else {
        byId.remove(n.id);
        size--;
        evictions++;
        return slot;
      }
    }
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
