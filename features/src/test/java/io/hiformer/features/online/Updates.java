package io.hiformer.features.online;

import io.hiformer.features.FeatureSchema;
import io.hiformer.proto.EntityKind;
import io.hiformer.proto.FeatureUpdate;
import io.hiformer.proto.FeatureValue;
import io.hiformer.proto.StringList;
import java.util.List;

/** The schema and update builders the online store tests share. */
final class Updates {
  private Updates() {}

  static final EntityKind USER = EntityKind.ENTITY_KIND_USER;
  static final EntityKind ITEM = EntityKind.ENTITY_KIND_ITEM;

  static final FeatureSchema SCHEMA = FeatureSchema.parse("""
      tasks: [{name: click}]
      fields:
        - {name: user_id, kind: categorical, side: user}
        - {name: item_id, kind: categorical, side: item}
        - {name: country, kind: categorical, side: user}
        - {name: age, kind: dense, side: user, bucketize: [18, 30, 50]}
        - {name: recent, kind: bag, side: user}
        - {name: category, kind: categorical, side: item}
        - {name: price, kind: dense, side: item}
        - {name: hour, kind: categorical, side: context}
      """);

  static StoreSchema storeSchema() {
    return StoreSchema.of(SCHEMA.fields());
  }

  static FeatureValue cat(String v) {
    return FeatureValue.newBuilder().setCategorical(v).build();
  }

  static FeatureValue id(long v) {
    return FeatureValue.newBuilder().setId(v).build();
  }

  static FeatureValue dense(double v) {
    return FeatureValue.newBuilder().setDense(v).build();
  }

  static FeatureValue bag(String... v) {
    return FeatureValue.newBuilder().setBag(StringList.newBuilder().addAllValues(List.of(v))).build();
  }

  /** An update of alternating column, value arguments. */
  static FeatureUpdate update(EntityKind kind, String entity, long timeMs, Object... columnsAndValues) {
    FeatureUpdate.Builder u = FeatureUpdate.newBuilder().setEntityKind(kind).setEntityId(entity).setEventTimeMs(timeMs);
    for (int i = 0; i < columnsAndValues.length; i += 2) {
      u.putFields((String) columnsAndValues[i], (FeatureValue) columnsAndValues[i + 1]);
    }
    return u.build();
  }

  static FeatureUpdate delete(EntityKind kind, String entity, long timeMs, String... columns) {
    return FeatureUpdate.newBuilder().setEntityKind(kind).setEntityId(entity).setEventTimeMs(timeMs)
        .addAllDeletes(List.of(columns)).build();
  }
}
