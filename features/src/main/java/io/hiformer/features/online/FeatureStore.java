package io.hiformer.features.online;

import io.hiformer.features.online.Rejection.Reason;
import io.hiformer.proto.EntityKind;
import io.hiformer.proto.FeatureUpdate;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.Objects;

/**
 * The in-memory online feature store (the default {@link OnlineStore}): the newest raw value per
 * user or item and column, as feature updates set them (see {@code features/README.md}, "Online store").
 *
 * <ul>
 *   <li>Merge: per column, the value (or delete) with the newest event time wins; on equal times
 *       the later delivery wins. Replays and out-of-order delivery therefore converge to the same
 *       state. An update is validated against the {@link StoreSchema} first and applied whole or
 *       not at all.
 *   <li>Reads ({@link #user}, {@link #item}) are lock-free and allocation-free: a concurrent map
 *       lookup returning an immutable {@link StoredEntity} snapshot. Writes are serialised per
 *       kind and replace the entity's snapshot.
 *   <li>Memory: at most {@code maxEntitiesPerKind} users and as many items; a new entity beyond
 *       that evicts the least recently written one of its kind (reads do not count), which then
 *       reads as unknown until its next update.
 * </ul>
 *
 * <p>Metrics ({@link #bindTo}): {@code hiformer_features_entities{kind}},
 * {@code hiformer_features_entities_max{kind}} and {@code hiformer_features_evictions_total{kind}}.
 */
public final class FeatureStore implements OnlineStore {
  /** The default limit per kind; see the README for the memory an entity takes. */
  public static final int DEFAULT_MAX_ENTITIES = 1_000_000;

  private final StoreSchema schema;
  private final EntityTable users;
  private final EntityTable items;

  public FeatureStore(StoreSchema schema, int maxEntitiesPerKind) {
    this.schema = Objects.requireNonNull(schema, "schema");
    this.users = new EntityTable(EntityKind.ENTITY_KIND_USER, schema.entity(EntityKind.ENTITY_KIND_USER),
        maxEntitiesPerKind);
    this.items = new EntityTable(EntityKind.ENTITY_KIND_ITEM, schema.entity(EntityKind.ENTITY_KIND_ITEM),
        maxEntitiesPerKind);
  }

  @Override
  public StoreSchema schema() {
    return schema;
  }

  /** The stored features of user {@code id}, or null when the store does not hold it. */
  @Override
  public StoredEntity user(String id) {
    return users.get(id);
  }

  /** The stored features of item {@code id}, or null when the store does not hold it. */
  @Override
  public StoredEntity item(String id) {
    return items.get(id);
  }

  /**
   * Validates and merges one update; returns null when applied (even if every value was older
   * than the stored one), else why it was rejected, having changed nothing.
   */
  @Override
  public Rejection apply(FeatureUpdate update) {
    EntityTable table = table(update.getEntityKind());
    if (table == null) {
      return new Rejection(Reason.WRONG_ENTITY_KIND, "entity_kind is " + update.getEntityKindValue()
          + "; it must be ENTITY_KIND_USER or ENTITY_KIND_ITEM");
    }
    return table.apply(update);
  }

  /** Forgets an entity, as a tombstone (null value) on a compacted topic asks. */
  @Override
  public void remove(EntityKind kind, String id) {
    Objects.requireNonNull(table(kind), "kind").remove(id);
  }

  /** Entities of {@code kind} held now. */
  @Override
  public long size(EntityKind kind) {
    return Objects.requireNonNull(table(kind), "kind").size();
  }

  /** Entities of {@code kind} evicted so far to stay within the limit. */
  long evictions(EntityKind kind) {
    return Objects.requireNonNull(table(kind), "kind").evictions();
  }

  @Override
  public void bindTo(MeterRegistry registry) {
    bind(registry, "user", users);
    bind(registry, "item", items);
  }

  private static void bind(MeterRegistry registry, String kind, EntityTable table) {
    Gauge.builder("hiformer.features.entities", table, EntityTable::size).tag("kind", kind)
        .description("entities held by the online feature store").register(registry);
    Gauge.builder("hiformer.features.entities.max", table, EntityTable::maxEntities).tag("kind", kind)
        .description("the most entities the store holds before evicting the least recently written")
        .register(registry);
    FunctionCounter.builder("hiformer.features.evictions", table, EntityTable::evictions).tag("kind", kind)
        .description("entities evicted to stay within the limit").register(registry);
  }

  private EntityTable table(EntityKind kind) {
    return switch (kind) {
      case ENTITY_KIND_USER -> users;
      case ENTITY_KIND_ITEM -> items;
      default -> null;
    };
  }
}
