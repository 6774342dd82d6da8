package io.hiformer.features;

import static io.hiformer.features.Fixtures.record;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hiformer.proto.EntityKind;
import io.hiformer.proto.FeatureUpdate;
import io.hiformer.proto.FeatureValue;
import io.hiformer.proto.StringList;
import org.junit.jupiter.api.Test;

class FeatureUpdatesTest {
  private static final FeatureSchema SCHEMA = FeatureSchema.parse("""
      missing_values: ["NA"]
      tasks: [{name: click}]
      fields:
        - {name: user, kind: categorical, side: user, column: user_id}
        - {name: country, kind: categorical, side: user}
        - {name: age, kind: dense, side: user, bucketize: [18, 30]}
        - {name: tags, kind: bag, side: user, separator: ";"}
        - {name: price, kind: dense, side: item}
        - {name: hour, kind: categorical, side: context}
      """);

  @Test
  void aRowBecomesAnUpdateOfItsSidesColumns() {
    FeatureUpdates users = new FeatureUpdates(SCHEMA, EntityKind.ENTITY_KIND_USER, "user_id", null);
    assertThat(users.columns()).containsExactly("country", "age", "tags");

    FeatureUpdate u = users.from(record("user_id", "u1", "country", "de", "age", "31", "tags", "a;;b",
        "price", "9", "hour", "7", "other", "x"), 1234);

    assertThat(u.getEntityKind()).isEqualTo(EntityKind.ENTITY_KIND_USER);
    assertThat(u.getEntityId()).isEqualTo("u1");
    assertThat(u.getEventTimeMs()).isEqualTo(1234);
    assertThat(u.getFieldsMap()).containsOnlyKeys("country", "age", "tags");
    assertThat(u.getFieldsMap().get("country")).isEqualTo(FeatureValue.newBuilder().setCategorical("de").build());
    assertThat(u.getFieldsMap().get("age")).isEqualTo(FeatureValue.newBuilder().setDense(31).build());
    assertThat(u.getFieldsMap().get("tags")).isEqualTo(FeatureValue.newBuilder()
        .setBag(StringList.newBuilder().addValues("a").addValues("b")).build());
    assertThat(u.getDeletesList()).isEmpty();
  }

  @Test
  void missingCellsDeleteAndAbsentColumnsAreLeftAlone() {
    FeatureUpdates users = new FeatureUpdates(SCHEMA, EntityKind.ENTITY_KIND_USER, "user_id", null);
    FeatureUpdate u = users.from(record("user_id", "u1", "country", "NA", "age", "NaN", "tags", ""), 1);
    assertThat(u.getFieldsMap()).isEmpty();
    assertThat(u.getDeletesList()).containsExactly("country", "age", "tags");

    FeatureUpdate partial = users.from(record("user_id", "u1", "age", "20"), 1);
    assertThat(partial.getFieldsMap()).containsOnlyKeys("age");
    assertThat(partial.getDeletesList()).isEmpty();
  }

  @Test
  void theEventTimeComesFromAColumnInMillisecondsOrIso8601() {
    FeatureUpdates items = new FeatureUpdates(SCHEMA, EntityKind.ENTITY_KIND_ITEM, "item_id", "ts");
    assertThat(items.from(record("item_id", "i1", "price", "2.5", "ts", "1700000000000"), 1).getEventTimeMs())
        .isEqualTo(1_700_000_000_000L);
    assertThat(items.from(record("item_id", "i1", "ts", "2026-05-01T12:00:00Z"), 1).getEventTimeMs())
        .isEqualTo(1_777_636_800_000L);
  }

  @Test
  void badRowsNameTheirProblem() {
    FeatureUpdates items = new FeatureUpdates(SCHEMA, EntityKind.ENTITY_KIND_ITEM, "item_id", "ts");
    assertThatThrownBy(() -> items.from(Fixtures.located("f.csv:3", record("price", "1", "ts", "5")), 1))
        .isInstanceOf(BadRowException.class).hasMessage("f.csv:3: no entity id in column 'item_id'");
    assertThatThrownBy(() -> items.from(record("item_id", "i1", "price", "cheap", "ts", "5"), 1))
        .hasMessageContaining("field 'price': column 'price' holds 'cheap', not a number");
    assertThatThrownBy(() -> items.from(Fixtures.located("f.csv:4", record("item_id", "i1", "price", "1e39", "ts", "5")), 1))
        .isInstanceOf(BadRowException.class)
        .hasMessage("f.csv:4: field 'price': column 'price' is 1.0E39, beyond the float range (±3.4028235E38)");
    assertThatThrownBy(() -> items.from(record("item_id", "i1", "price", "-Infinity", "ts", "5"), 1))
        .hasMessageContaining("column 'price' is -Infinity, not a finite number");
    assertThatThrownBy(() -> items.from(record("item_id", "i1", "ts", "yesterday"), 1))
        .hasMessageContaining("column 'ts' holds 'yesterday', not milliseconds since the epoch or an ISO-8601 instant");
    assertThatThrownBy(() -> items.from(record("item_id", "i1", "ts", "0"), 1))
        .hasMessageContaining("event time '0' is not after the epoch");
    assertThatThrownBy(() -> new FeatureUpdates(FeatureSchema.parse("""
        tasks: [{name: click}]
        fields: [{name: hour, kind: categorical, side: context}]
        """), EntityKind.ENTITY_KIND_ITEM, "item_id", null)).hasMessage("the schema has no item fields to load");
  }
}
