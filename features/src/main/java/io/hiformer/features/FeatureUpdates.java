package io.hiformer.features;

import io.hiformer.model.ModelConfig.FieldKind;
import io.hiformer.model.ModelConfig.Side;
import io.hiformer.proto.EntityKind;
import io.hiformer.proto.FeatureUpdate;
import io.hiformer.proto.FeatureValue;
import io.hiformer.proto.StringList;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns raw records (rows of a CSV or TSV file) into {@link FeatureUpdate}s of one entity kind:
 * the entity id from {@code idColumn}, and every other column a schema field of that side reads, typed
 * by the field's kind (the first field reading it, in schema order): categorical text, a bag split
 * on the field's separator, or a dense number. A row is the entity's state as of its event time:
 * a missing cell (empty, one of {@code missing_values}, or {@code NaN}) becomes a delete of that
 * column; a column the record lacks is left alone. A dense cell that is not a finite float
 * ({@link DenseValues}: {@code Infinity}, {@code 1e39}) makes the row bad.
 */
public final class FeatureUpdates {
  private final EntityKind kind;
  private final String idColumn;
  private final String eventTimeColumn;
  private final RawValues raw;
  private final Map<String, FeatureSchema.Field> columns = new LinkedHashMap<>();

  /**
   * @param idColumn the column holding the entity id (required in every row)
   * @param eventTimeColumn the column holding the event time (milliseconds since the epoch or an
   *     ISO-8601 instant such as {@code 2026-05-01T12:00:00Z}), or null to use the time given to
   *     {@link #from}
   */
  public FeatureUpdates(FeatureSchema schema, EntityKind kind, String idColumn, String eventTimeColumn) {
    Side side = switch (kind) {
      case ENTITY_KIND_USER -> Side.USER;
      case ENTITY_KIND_ITEM -> Side.ITEM;
      default -> throw new IllegalArgumentException("entity kind must be user or item, got " + kind);
    };
    this.kind = kind;
    this.idColumn = idColumn;
    this.eventTimeColumn = eventTimeColumn;
    this.raw = new RawValues(schema.missingValues());
    for (FeatureSchema.Field f : schema.fields()) {
      if (f.side() == side && !f.column().equals(idColumn)) {
        columns.putIfAbsent(f.column(), f);
      }
    }
    if (columns.isEmpty()) {
      throw new IllegalArgumentException("the schema has no " + side.name().toLowerCase(java.util.Locale.ROOT)
          + " fields to load");
    }
  }

  /** The columns an update may carry, in schema order. */
  public List<String> columns() {
    return new ArrayList<>(columns.keySet());
  }

  /**
   * The update {@code record} describes, at {@code defaultEventTimeMs} unless the event time column
   * says otherwise; throws {@link BadRowException} for a missing id or event time, or a dense cell
   * that is not a number or not a finite float.
   */
  public FeatureUpdate from(RawRecord record, long defaultEventTimeMs) {
    String id = record.value(idColumn);
    if (raw.isMissing(id)) {
      throw new BadRowException(record.location(), "no entity id in column '" + idColumn + "'");
    }
    FeatureUpdate.Builder u = FeatureUpdate.newBuilder().setEntityKind(kind).setEntityId(id)
        .setEventTimeMs(eventTimeColumn == null ? defaultEventTimeMs : eventTime(record));
    for (Map.Entry<String, FeatureSchema.Field> e : columns.entrySet()) {
      String column = e.getKey();
      FeatureSchema.Field f = e.getValue();
      String text = record.value(column);
      if (text == null) {
        continue;
      }
      FeatureValue value = switch (f.kind()) {
        case CATEGORICAL -> raw.isMissing(text) ? null : FeatureValue.newBuilder().setCategorical(text).build();
        case BAG -> raw.isMissing(text) ? null : bag(record.bag(column, f.separator()));
        case DENSE -> {
          double x = raw.number(record, column, f.name());
          yield Double.isNaN(x) ? null : FeatureValue.newBuilder().setDense(x).build();
        }
      };
      if (value == null) {
        u.addDeletes(column);
      } else {
        u.putFields(column, value);
      }
    }
    return u.build();
  }

  private FeatureValue bag(List<String> items) {
    StringList.Builder list = StringList.newBuilder();
    for (String item : items) {
      if (!raw.isMissing(item)) {
        list.addValues(item);
      }
    }
    return FeatureValue.newBuilder().setBag(list).build();
  }

  private long eventTime(RawRecord record) {
    String text = record.value(eventTimeColumn);
    if (raw.isMissing(text)) {
      throw new BadRowException(record.location(), "no event time in column '" + eventTimeColumn + "'");
    }
    try {
      long ms = text.chars().allMatch(Character::isDigit) ? Long.parseLong(text) : Instant.parse(text).toEpochMilli();
      if (ms <= 0) {
        throw new BadRowException(record.location(), "event time '" + text + "' is not after the epoch");
      }
      return ms;
    } catch (NumberFormatException | DateTimeParseException e) {
      throw new BadRowException(record.location(), "column '" + eventTimeColumn + "' holds '" + text
          + "', not milliseconds since the epoch or an ISO-8601 instant");
    }
  }
}
