package io.hiformer.features.online;

import io.hiformer.features.online.StoreSchema.EntitySchema;
import io.hiformer.proto.EntityKind;
import io.hiformer.proto.FeatureUpdate;
import java.util.Arrays;
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
  private final int maxEntities;
  private final ConcurrentHashMap<String, Node> byId;
  // The CLOCK ring, guarded by this: slots [0, used) were handed out, free[0, freeCount) are
  // slots of removed entities (null in the ring) to reuse first; the ring grows up to maxEntities.
  private Node[] ring = new Node[64];
  private int used;
  private int[] free = new int[16];
  private int freeCount;
  private int hand;
  private final UpdateMerge update; // guarded by this
  private volatile int size;
  private volatile long evictions;

  EntityTable(EntityKind kind, EntitySchema schema, int maxEntities) {
    if (maxEntities < 1) {
      throw new IllegalArgumentException("maxEntities must be positive, got " + maxEntities);
    }
    this.update = new UpdateMerge(kind, schema);
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
   * Validates {@code u} (of this table's kind) and merges it by {@link UpdateMerge}'s rule. A
   * rejected update changes nothing.
   */
  synchronized Rejection apply(FeatureUpdate u) {
    Rejection problem = update.check(u);
    if (problem != null) {
      return problem;
    }
    String id = u.getEntityId();
    Node node = byId.get(id);
    if (node == null) {
      node = new Node(id);
      node.entity = update.merge(null);
      place(node);
      byId.put(id, node);
      size++;
    } else {
      node.entity = update.merge(node.entity);
      node.written = true;
    }
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

}
