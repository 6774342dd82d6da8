package io.hiformer.features.online;

import io.hiformer.features.FeatureSchema;
import io.hiformer.model.ModelConfig.FieldKind;
import io.hiformer.model.ModelConfig.Side;
import io.hiformer.proto.EntityKind;
import io.hiformer.proto.FeatureValue;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What the online store holds: per entity kind, the raw columns of the schema's fields of that
 * side ({@code user} fields for users, {@code item} fields for items) and the value kinds each
 * accepts. A categorical field takes {@code categorical} or {@code id} values, a bag field
 * {@code bag}, a dense field (bucketized or not) a {@code dense} that is a finite float; a column
 * read by several fields takes what any of them takes. Context fields are request-time only and
 * never stored.
 * Immutable.
 */
public final class StoreSchema {
  private final EntitySchema users;
  private final EntitySchema items;

  private StoreSchema(EntitySchema users, EntitySchema items) {
    this.users = users;
    this.items = items;
  }

  /** The columns of {@code fields} (a feature schema's or a model's transforms' fields). */
  public static StoreSchema of(Collection<FeatureSchema.Field> fields) {
    return new StoreSchema(side(fields, Side.USER), side(fields, Side.ITEM));
  }

  /** The stored columns of one entity kind, in slot order. */
  public List<String> columns(EntityKind kind) {
    return List.of(entity(kind).columns);
  }

  EntitySchema entity(EntityKind kind) {
    return switch (kind) {
      case ENTITY_KIND_USER -> users;
      case ENTITY_KIND_ITEM -> items;
      default -> throw new IllegalArgumentException("no stored features for entity kind " + kind);
    };
  }

  private static EntitySchema side(Collection<FeatureSchema.Field> fields, Side side) {
    Map<String, Integer> accepted = new LinkedHashMap<>();
    for (FeatureSchema.Field f : fields) {
      if (f.side() == side) {
        accepted.merge(f.column(), accepts(f.kind()), (a, b) -> a | b);
      }
    }
    return new EntitySchema(new ArrayList<>(accepted.keySet()), accepted.values().stream().mapToInt(i -> i).toArray());
  }

  private static int accepts(FieldKind kind) {
    return switch (kind) {
      case CATEGORICAL -> bit(FeatureValue.KindCase.CATEGORICAL) | bit(FeatureValue.KindCase.ID);
      case BAG -> bit(FeatureValue.KindCase.BAG);
      case DENSE -> bit(FeatureValue.KindCase.DENSE);
    };
  }

  static int bit(FeatureValue.KindCase kind) {
    return 1 << kind.ordinal();
  }

  /** The columns of one entity kind: slot per column and the value kinds (bit per {@code KindCase}) it accepts. */
  static final class EntitySchema {
    final String[] columns;
    final int[] accepted;
    private final Map<String, Integer> slots;

    EntitySchema(List<String> columns, int[] accepted) {
      this.columns = columns.toArray(String[]::new);
      this.accepted = accepted;
      this.slots = HashMap.newHashMap(columns.size());
      for (int i = 0; i < columns.size(); i++) {
        slots.put(columns.get(i), i);
      }
    }

    /** The slot of {@code column}, or -1 when this kind does not store it. */
    int slot(String column) {
      Integer s = slots.get(column);
      return s == null ? -1 : s;
    }

    int size() {
      return columns.length;
    }
  }
}
