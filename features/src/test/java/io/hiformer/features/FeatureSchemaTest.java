package io.hiformer.features;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hiformer.model.ModelConfig.FieldKind;
import io.hiformer.model.ModelConfig.Side;
import java.util.List;
import org.junit.jupiter.api.Test;

class FeatureSchemaTest {
  static final String TASKS = "tasks: [{name: click, column: label}]\n";

  @Test
  void parsesEveryKindOfField() {
    FeatureSchema s = FeatureSchema.parse("""
        missing_values: ["NA", -1]
        tasks:
          - {name: click, column: clicked, positive: {equals: ["1", "yes"]}}
          - {name: watch}
        joins: [{file: items.csv, key: item}]
        libfm: {label: y, fields: {user: [0, 9], item: [10, 19]}}
        fields:
          - {name: user, kind: categorical, side: user, min_count: 3}
          - {name: query, kind: categorical, side: context, hash_buckets: 1000, column: q}
          - {name: tags, kind: bag, side: item, separator: ";"}
          - {name: price, kind: dense, side: item, clip: [0, 100], log1p: true, standardize: true}
          - {name: age, kind: dense, side: user, bucketize: [18, 30, 65]}
        """);
    assertThat(s.fields()).extracting(FeatureSchema.Field::name).containsExactly("user", "query", "tags", "price", "age");
    FeatureSchema.Field user = s.fields().get(0);
    assertThat(user.kind()).isEqualTo(FieldKind.CATEGORICAL);
    assertThat(user.side()).isEqualTo(Side.USER);
    assertThat(user.column()).isEqualTo("user");
    assertThat(user.minCount()).isEqualTo(3);
    assertThat(s.fields().get(1).hashBuckets()).isEqualTo(1000);
    assertThat(s.fields().get(1).column()).isEqualTo("q");
    assertThat(s.fields().get(2).separator()).isEqualTo(";");
    FeatureSchema.Field price = s.fields().get(3);
    assertThat(List.of(price.clipLow(), price.clipHigh())).containsExactly(0.0, 100.0);
    assertThat(price.log1p()).isTrue();
    assertThat(price.standardize()).isTrue();
    assertThat(price.modelKind()).isEqualTo(FieldKind.DENSE);
    assertThat(s.fields().get(4).modelKind()).isEqualTo(FieldKind.CATEGORICAL);
    assertThat(s.tasks().get(0).positiveValues()).containsExactly("1", "yes");
    assertThat(s.tasks().get(1).column()).isEqualTo("watch");
    assertThat(s.tasks().get(1).positiveAbove()).isEqualTo(0.5);
    assertThat(s.missingValues()).containsExactly("NA", "-1");
    assertThat(s.joins()).containsExactly(new FeatureSchema.Join("items.csv", "item"));
    assertThat(s.libFm().labelColumn()).isEqualTo("y");
    assertThat(s.libFm().ranges()).containsExactly(
        new FeatureSchema.LibFm.Range("user", 0, 9), new FeatureSchema.LibFm.Range("item", 10, 19));
  }

  @Test
  void defaults() {
    FeatureSchema s = FeatureSchema.parse(TASKS + "fields: [{name: tags, kind: bag, side: item}]");
    FeatureSchema.Field tags = s.fields().getFirst();
    assertThat(tags.minCount()).isEqualTo(1);
    assertThat(tags.hashed()).isFalse();
    assertThat(tags.separator()).isEqualTo("|");
    assertThat(s.missingValues()).isEmpty();
    assertThat(s.joins()).isEmpty();
    assertThat(s.libFm()).isEqualTo(FeatureSchema.LibFm.defaults());
  }

  @Test
  void errorsNameTheFieldAndTheProblem() {
    assertError("{name: a, kind: categorical}", "field 'a': 'side' is required");
    assertError("{name: a, kind: number, side: user}", "field 'a': kind must be one of categorical, bag, dense, got 'number'");
    assertError("{name: a, kind: dense, side: planet}", "field 'a': side must be one of user, item, context, got 'planet'");
    assertError("{name: a, kind: dense, side: user, min_count: 2}", "field 'a': 'min_count' does not apply to a dense field");
    assertError("{name: a, kind: categorical, side: user, log1p: true}", "field 'a': 'log1p' does not apply to a categorical field");
    assertError("{name: a, kind: categorical, side: user, separator: ','}", "field 'a': 'separator' does not apply");
    assertError("{name: a, kind: bag, side: user, min_count: 2, hash_buckets: 10}", "field 'a': give either min_count");
    assertError("{name: a, kind: bag, side: user, hash_buckets: 0}", "field 'a': hash_buckets must be a positive integer, got 0");
    assertError("{name: a, kind: dense, side: user, clip: [5, 1]}", "field 'a': clip must be [low, high] with low <= high");
    assertError("{name: a, kind: dense, side: user, clip: [0, x]}", "field 'a': clip must hold finite numbers");
    assertError("{name: a, kind: dense, side: user, bucketize: [1, 1]}", "field 'a': bucketize boundaries must be strictly increasing");
    assertError("{name: a, kind: dense, side: user, bucketize: [1], standardize: true}", "field 'a': give either standardize or bucketize");
    assertError("{name: a, kind: dense, side: user, standardise: true}", "field 'a': unknown key 'standardise'");
    assertError("{kind: dense, side: user}", "fields[0]: 'name' is required");
    assertThatThrownBy(() -> FeatureSchema.parse(TASKS + """
        fields:
          - {name: a, kind: dense, side: user}
          - {name: a, kind: dense, side: item}
        """)).hasMessageContaining("field 'a': is declared twice");
  }

  @Test
  void schemaLevelErrors() {
    assertThatThrownBy(() -> FeatureSchema.parse("")).hasMessageContaining("the document is empty");
    assertThatThrownBy(() -> FeatureSchema.parse("fields: [{name: a, kind: dense, side: user}]"))
        .hasMessageContaining("'tasks' is required");
    assertThatThrownBy(() -> FeatureSchema.parse(TASKS + "fields: []")).hasMessageContaining("at least one field");
    assertThatThrownBy(() -> FeatureSchema.parse(TASKS + "fields: [}")).hasMessageContaining("not valid YAML");
    assertThatThrownBy(() -> FeatureSchema.parse(TASKS + "feilds: []")).hasMessageContaining("unknown key 'feilds'");
    assertThatThrownBy(() -> FeatureSchema.parse(
        "tasks: [{name: c, positive: {above: 1, equals: 2}}]\nfields: [{name: a, kind: dense, side: user}]"))
        .hasMessageContaining("task 'c': positive must have exactly one rule");
    assertThatThrownBy(() -> FeatureSchema.parse(
        TASKS + "libfm: {fields: {a: [0, 10], b: [10, 20]}}\nfields: [{name: a, kind: dense, side: user}]"))
        .hasMessageContaining("ranges of 'a' and 'b' overlap");
  }

  private static void assertError(String field, String message) {
    assertThatThrownBy(() -> FeatureSchema.parse(TASKS + "fields: [" + field + "]"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("feature schema: ")
        .hasMessageContaining(message);
  }
}
