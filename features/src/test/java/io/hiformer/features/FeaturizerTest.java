package io.hiformer.features;

import static io.hiformer.features.Fixtures.batch;
import static io.hiformer.features.Fixtures.record;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hiformer.model.Batch;
import io.hiformer.proto.FeatureValue;
import io.hiformer.proto.StringList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class FeaturizerTest {
  static final FeatureSchema SCHEMA = FeatureSchema.parse("""
      tasks: [{name: click}]
      fields:
        - {name: user, kind: categorical, side: user}
        - {name: age, kind: dense, side: user, bucketize: [30]}
        - {name: tags, kind: bag, side: item, separator: ","}
        - {name: price, kind: dense, side: item, standardize: true}
        - {name: city, kind: categorical, side: context, column: city_name}
      """);
  static final List<RawRecord> TRAIN = List.of(
      record("user", "ann", "age", "25", "tags", "x,y", "price", "1", "city_name", "Oslo", "click", "1"),
      record("user", "bob", "age", "40", "tags", "y", "price", "3", "city_name", "Rome", "click", "0"),
      record("user", "ann", "age", "31", "tags", "y,z", "price", "2", "city_name", "Oslo", "click", "0"));

  @Test
  void fillsEachKindInSchemaOrder() {
    Transforms t = Transforms.fit(SCHEMA, TRAIN);
    Batch b = batch(t, 2);
    Featurizer f = new Featurizer(t);
    assertThat(f.add(TRAIN.get(1), b)).isZero();
    // Categorical slots in schema order: user, age (bucketized), city.
    assertThat(List.of(b.categorical(0, 0), b.categorical(0, 1), b.categorical(0, 2))).containsExactly(2, 2, 2);
    assertThat(b.bag(0, 0)).containsExactly(1);
    assertThat(b.dense(0, 0)).isEqualTo((float) (1 / Math.sqrt(2.0 / 3)));
    assertThat(b.label(0, 0)).isZero();
    assertThat(b.labelMask(0, 0)).isEqualTo(1f);

    assertThat(f.add(record("tags", ""), b)).isEqualTo(1);
    assertThat(List.of(b.categorical(1, 0), b.categorical(1, 1), b.categorical(1, 2))).containsExactly(0, 0, 0);
    assertThat(b.bag(1, 0)).isEmpty();
    assertThat(b.dense(1, 0)).isZero();
    assertThat(b.labelMask(1, 0)).isZero();
  }

  @Test
  void protobufFeatureValuesGiveTheSameInputsAsText() {
    Transforms t = Transforms.fit(SCHEMA, TRAIN);
    RawRecord proto = RawRecord.ofFeatures(Map.of(
        "user", FeatureValue.newBuilder().setCategorical("bob").build(),
        "age", FeatureValue.newBuilder().setDense(40).build(),
        "tags", FeatureValue.newBuilder().setBag(StringList.newBuilder().addValues("y").addValues("x,y")).build(),
        "price", FeatureValue.newBuilder().setDense(3).build(),
        "city_name", FeatureValue.newBuilder().setBag(StringList.newBuilder().addValues("Rome")).build()));
    Batch b = batch(t, 2);
    Featurizer f = new Featurizer(t);
    f.add(TRAIN.get(1), b);
    f.add(proto, b);
    assertThat(b.categorical(1, 0)).isEqualTo(b.categorical(0, 0));
    assertThat(b.categorical(1, 1)).isEqualTo(b.categorical(0, 1));
    // A bag given for a categorical field reads as missing.
    assertThat(b.categorical(1, 2)).isZero();
    // List items are taken whole: "x,y" is one (unknown) item, not split.
    assertThat(b.bag(1, 0)).containsExactly(1, 0);
    assertThat(b.dense(1, 0)).isEqualTo(b.dense(0, 0));
    assertThat(RawRecord.ofFeatures(Map.of("id", FeatureValue.newBuilder().setId(957).build())).value("id"))
        .isEqualTo("957");
    // Dense values are read as numbers, exactly as their text would be; NaN is missing.
    RawRecord odd = RawRecord.ofFeatures(Map.of("price", FeatureValue.newBuilder().setDense(0.1 + 0.2).build()));
    assertThat(odd.isNumber("price")).isTrue();
    assertThat(odd.isNumber("user")).isFalse();
    Batch viaText = batch(t, 1);
    f.add(RawRecord.of(Map.of("price", Double.toString(0.1 + 0.2))), viaText);
    Batch viaNumber = batch(t, 1);
    f.add(odd, viaNumber);
    assertThat(viaNumber.dense(0, 0)).isEqualTo(viaText.dense(0, 0));
    Batch nan = batch(t, 1);
    f.add(RawRecord.ofFeatures(Map.of("price", FeatureValue.newBuilder().setDense(Double.NaN).build())), nan);
    Batch missing = batch(t, 1);
    f.add(RawRecord.of(Map.of()), missing);
    assertThat(nan.dense(0, 0)).isEqualTo(missing.dense(0, 0));
    // Infinite, or infinite once a float as the model reads it: a bad value, never a silent missing one.
    for (double bad : new double[] {Double.POSITIVE_INFINITY, 1e39}) {
      assertThatThrownBy(() -> f.add(RawRecord.ofFeatures(Map.of("price",
          FeatureValue.newBuilder().setDense(bad).build())), batch(t, 1)))
          .isInstanceOf(BadRowException.class).hasMessageContaining("field 'price': column 'price' is " + bad);
    }
  }

  @Test
  void aBadRowLeavesTheBatchUnchanged() {
    Transforms t = Transforms.fit(SCHEMA, TRAIN);
    Batch b = batch(t, 2);
    assertThatThrownBy(() -> new Featurizer(t).add(record("price", "cheap"), b)).isInstanceOf(BadRowException.class);
    assertThat(b.size()).isZero();
  }
}
