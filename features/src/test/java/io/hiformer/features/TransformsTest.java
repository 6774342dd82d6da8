package io.hiformer.features;

import static io.hiformer.features.Fixtures.batch;
import static io.hiformer.features.Fixtures.column;
import static io.hiformer.features.Fixtures.located;
import static io.hiformer.features.Fixtures.record;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hiformer.model.Batch;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.ModelConfig.FieldKind;
import io.hiformer.model.ModelConfig.Side;
import io.hiformer.model.ModelFile;
import io.hiformer.model.Parameters;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TransformsTest {

  static Transforms fit(String fields, List<RawRecord> records) {
    return Transforms.fit(schema(fields), records);
  }

  static FeatureSchema schema(String fields) {
    return FeatureSchema.parse("missing_values: [unknown]\ntasks: [{name: y}]\nfields:\n" + fields);
  }

  /** The first categorical id of each record, featurized one by one. */
  static int[] ids(Transforms t, String column, String... values) {
    Featurizer f = new Featurizer(t);
    Batch b = batch(t, values.length);
    for (String v : values) {
      f.add(record(column, v), b);
    }
    int[] out = new int[values.length];
    for (int i = 0; i < out.length; i++) {
      out[i] = b.categorical(i, 0);
    }
    return out;
  }

  static float[] dense(Transforms t, String column, String... values) {
    Featurizer f = new Featurizer(t);
    Batch b = batch(t, values.length);
    for (String v : values) {
      f.add(record(column, v), b);
    }
    float[] out = new float[values.length];
    for (int i = 0; i < out.length; i++) {
      out[i] = b.dense(i, 0);
    }
    return out;
  }

  @Test
  void fieldsThatWouldTrainDeadAreWarned() {
    List<String> warnings = new java.util.ArrayList<>();
    Transforms.fit(schema("""
          - {name: c, kind: categorical, side: item, min_count: 5}
          - {name: absent, kind: categorical, side: user}
          - {name: price, kind: dense, side: item}
          - {name: ok, column: c, kind: categorical, side: item}
        """), column("c", "a", "b", "a", "unknown"), BadRows.none(), warnings);
    assertThat(warnings).containsExactly(
        "field 'c': min_count 5 leaves its vocabulary empty (the most frequent value occurs 2 times); the field"
            + " carries nothing",
        "field 'absent': column 'absent' has no value in any training row (absent from the data or always missing);"
            + " the field carries nothing",
        "field 'price': column 'price' has no value in any training row (absent from the data or always missing);"
            + " the field carries nothing");
  }

  @Test
  void vocabularyOrdersByCountThenValueAndDropsRareValues() {
    Transforms t = fit("  - {name: c, kind: categorical, side: item, min_count: 2}",
        column("c", "b", "a", "c", "d", "b", "a", "a", "b", "d", "", "unknown", "unknown"));
    // a and b 3 times (a first by value), d twice, c once (below min_count).
    assertThat(ids(t, "c", "a", "b", "d", "c", "never seen", "", "unknown", null))
        .containsExactly(1, 2, 3, 0, 0, 0, 0, 0);
    assertThat(t.modelFields()).containsExactly(new ModelConfig.Field("c", FieldKind.CATEGORICAL, Side.ITEM, 4));
  }

  @Test
  void hashBucketsAreFixedMurmur3OfTheUtf8Bytes() {
    Transforms t = fit("  - {name: q, kind: categorical, side: context, hash_buckets: 1000}", List.of());
    // murmur3_32("hello") = 0x248bfa47 = 613153351 -> bucket 351 -> id 352, the same in every run and JVM.
    assertThat(ids(t, "q", "hello", "", "unknown")).containsExactly(352, 0, 0);
    assertThat(t.modelFields().getFirst().vocab()).isEqualTo(1001);
  }

  @Test
  void murmur3MatchesPublishedVectors() {
    assertThat(Murmur3.hash(new byte[0], 0)).isZero();
    assertThat(Murmur3.hash(new byte[0], 1)).isEqualTo(0x514e28b7);
    assertThat(Murmur3.hash(new byte[] {0, 0, 0, 0}, 0)).isEqualTo(0x2362f9de);
    assertThat(Murmur3.hash("The quick brown fox jumps over the lazy dog".getBytes(), 0x9747b28c))
        .isEqualTo(0x2fa826cd);
    assertThat(Murmur3.hash("hello")).isEqualTo(0x248bfa47);
    // Every tail length (1, 2, 3 bytes past a block).
    assertThat(Murmur3.hash("a")).isEqualTo(0x3c2569b2);
    assertThat(Murmur3.hash("ab")).isEqualTo(0x9bbfd75f);
    assertThat(Murmur3.hash("abc")).isEqualTo(0xb3dd93fa);
    assertThat(Murmur3.hash("abcde")).isEqualTo(0xe89b9af6);
    // Multi-byte UTF-8, checked against Guava's murmur3_32_fixed.
    assertThat(Murmur3.hash("héllo wörld ✓ 日本")).isEqualTo(0x18f65ef0);
  }

  @Test
  void standardizeUsesFittedMeanAndPopulationStdAndMissingBecomesZero() {
    Transforms t = fit("  - {name: x, kind: dense, side: user, standardize: true}", column("x", "1", "2", "3", "4", ""));
    double std = Math.sqrt(1.25);
    assertThat(dense(t, "x", "4", "1", "", "unknown", null, " 2.5 "))
        .containsExactly((float) (1.5 / std), (float) (-1.5 / std), 0f, 0f, 0f, 0f);
  }

  @Test
  void missingDenseWithoutStandardizeGetsTheFittedMean() {
    Transforms t = fit("  - {name: x, kind: dense, side: user}", column("x", "1", "2", "6"));
    assertThat(dense(t, "x", "7", "", "NaN")).containsExactly(7f, 3f, 3f);
  }

  @Test
  void aNumberThatIsNoFiniteFloatIsABadRowInFittingAndFeaturizing() {
    FeatureSchema s = schema("  - {name: x, kind: dense, side: user, standardize: true}");
    for (String bad : List.of("1e39", "-1e39", "1e308", "Infinity", "-Infinity")) {
      List<RawRecord> records = List.of(record("x", "1"), located("f.csv:3", record("x", bad)), record("x", "3"));
      assertThatThrownBy(() -> Transforms.fit(s, records)).isInstanceOf(BadRowException.class)
          .hasMessageStartingWith("f.csv:3: field 'x': column 'x' is ");
      BadRows skipped = BadRows.tolerate(1);
      Transforms t = Transforms.fit(s, records, skipped);
      assertThat(skipped.count()).isEqualTo(1);
      // Fitted on 1 and 3 only: mean 2, std 1, all finite (1e308 once made std = Infinity).
      assertThat(t.toJson()).contains("\"mean\":2.0,\"std\":1.0");
      assertThatThrownBy(() -> new Featurizer(t).add(located("g.csv:9", record("x", bad)), batch(t, 1)))
          .isInstanceOf(BadRowException.class).hasMessageStartingWith("g.csv:9: field 'x': column 'x' is ")
          .hasMessageContaining(bad.contains("e") ? "beyond the float range" : "not a finite number");
    }
    // The largest float is still a value.
    Transforms raw = fit("  - {name: x, kind: dense, side: user}", column("x", "1"));
    assertThat(dense(raw, "x", Float.toString(Float.MAX_VALUE), "-3.4028235e38"))
        .containsExactly(Float.MAX_VALUE, -Float.MAX_VALUE);
  }

  @Test
  void aValueTheTransformTakesBeyondTheFloatRangeIsABadRowButAStoredOneReadsAsMissing() {
    // A tiny spread: 1e30 is a float, but (1e30 - mean) / std is not.
    Transforms t = fit("  - {name: x, kind: dense, side: user, standardize: true}", column("x", "1", "1.000000001"));
    assertThatThrownBy(() -> new Featurizer(t).add(located("g.csv:4", record("x", "1e30")), batch(t, 1)))
        .isInstanceOf(BadRowException.class)
        .hasMessageStartingWith("g.csv:4: field 'x': column 'x' holds 1.0E30, which its transform")
        .hasMessageContaining("beyond the float range");

    List<String> unusable = new java.util.ArrayList<>();
    Featurizer f = new Featurizer(t, unusable::add);
    Batch b = batch(t, 3);
    f.add(stored(record("x", "1e30")), b);
    f.add(stored(record("x", "1e39")), b);
    f.add(stored(record("x", "1")), b);
    assertThat(b.size()).isEqualTo(3);
    assertThat(new float[] {b.dense(0, 0), b.dense(1, 0)}).as("read as missing").containsExactly(0f, 0f);
    assertThat(b.dense(2, 0)).isCloseTo(-1f, org.assertj.core.api.Assertions.within(1e-3f));
    assertThat(unusable).containsExactly("x", "x");
  }

  @Test
  void fittedStatisticsThatAreNoFiniteFloatsAreRefused() {
    Transforms t = fit("  - {name: x, kind: dense, side: user, standardize: true}", column("x", "1", "3"));
    String json = t.toJson();
    for (String stats : List.of("\"mean\":1e39,\"std\":1.0", "\"mean\":2.0,\"std\":\"Infinity\"",
        "\"mean\":2.0,\"std\":0.0", "\"mean\":2.0,\"std\":1e300")) {
      String bad = json.replace("\"mean\":2.0,\"std\":1.0", stats);
      assertThat(bad).isNotEqualTo(json);
      assertThatThrownBy(() -> Transforms.fromJson(bad)).isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("field 'x': mean").hasMessageContaining("must be finite floats and std positive");
    }
  }

  private static RawRecord stored(RawRecord r) {
    return new RawRecord() {
      @Override
      public String value(String column) {
        return r.value(column);
      }

      @Override
      public boolean isStored(String column) {
        return true;
      }
    };
  }

  @Test
  void clipThenSignedLog1p() {
    Transforms t = fit("  - {name: x, kind: dense, side: user, clip: [-5, 10], log1p: true}", List.of());
    assertThat(dense(t, "x", "0", "1.718281828459045", "-1.718281828459045", "100", "-100"))
        .containsExactly(0f, 1f, -1f, (float) Math.log(11), (float) -Math.log(6));
  }

  @Test
  void clipAloneAndStatisticsAreOfTheTransformedValue() {
    Transforms clip = fit("  - {name: x, kind: dense, side: user, clip: [0, 10]}", column("x", "-3", "15"));
    assertThat(dense(clip, "x", "-3", "15", "4", "")).containsExactly(0f, 10f, 4f, 5f);
    Transforms logStd = fit("  - {name: x, kind: dense, side: user, log1p: true, standardize: true}",
        column("x", "0", "0", "1.718281828459045", "1.718281828459045"));
    // log1p values 0, 0, 1, 1: mean 0.5, std 0.5.
    assertThat(dense(logStd, "x", "1.718281828459045", "0")).containsExactly(1f, -1f);
  }

  @Test
  void constantFieldStandardizesToZero() {
    Transforms t = fit("  - {name: x, kind: dense, side: user, standardize: true}", column("x", "7", "7", "7"));
    assertThat(dense(t, "x", "7", "8")).containsExactly(0f, 1f);
  }

  @Test
  void bucketizeMakesACategoricalField() {
    Transforms t = fit("  - {name: x, kind: dense, side: user, bucketize: [1, 2, 3]}", List.of());
    assertThat(t.modelFields()).containsExactly(new ModelConfig.Field("x", FieldKind.CATEGORICAL, Side.USER, 5));
    assertThat(ids(t, "x", "0.5", "1", "1.5", "2", "3", "99", "", "-1e9")).containsExactly(1, 2, 2, 3, 4, 4, 0, 1);
  }

  @Test
  void notANumberIsABadRowNamingFieldAndLocation() {
    FeatureSchema s = schema("  - {name: x, kind: dense, side: user, standardize: true}");
    List<RawRecord> records = List.of(record("x", "1"), located("f.csv:3", record("x", "abc")), record("x", "3"));
    assertThatThrownBy(() -> Transforms.fit(s, records))
        .isInstanceOf(BadRowException.class)
        .hasMessage("f.csv:3: field 'x': column 'x' holds 'abc', not a number");
    BadRows bad = BadRows.tolerate(1);
    Transforms t = Transforms.fit(s, records, bad);
    assertThat(bad.count()).isEqualTo(1);
    // Fitted on 1 and 3 only.
    assertThat(dense(t, "x", "3")).containsExactly(1f);
    assertThatThrownBy(() -> new Featurizer(t).add(located("g.csv:9", record("x", "1,5")), batch(t, 1)))
        .isInstanceOf(BadRowException.class)
        .hasMessage("g.csv:9: field 'x': column 'x' holds '1,5', not a number");
  }

  @Test
  void jsonRoundTripGivesIdenticalInputs() {
    FeatureSchema s = FeatureSchema.parse("""
        missing_values: [unknown]
        tasks: [{name: click, column: label}, {name: buy, positive: {equals: ["yes"]}}]
        fields:
          - {name: user, kind: categorical, side: user}
          - {name: tags, kind: bag, side: item, separator: ";", min_count: 2}
          - {name: query, kind: categorical, side: context, hash_buckets: 64}
          - {name: price, kind: dense, side: item, clip: [0, 1000], log1p: true, standardize: true}
          - {name: age, kind: dense, side: user, bucketize: [18, 30.5]}
          - {name: score, kind: dense, side: item}
        """);
    List<RawRecord> records = List.of(
        record("user", "u1", "tags", "a;b", "query", "shoes", "price", "12.5", "age", "20", "score", "0.1", "label", "1", "buy", "yes"),
        record("user", "u2", "tags", "b;c;;a", "query", "hats", "price", "3", "age", "44", "score", "0.7", "label", "0", "buy", "no"),
        record("user", "u1", "tags", "unknown", "query", "", "price", "", "age", "unknown", "label", "", "buy", null),
        record("user", "u3", "tags", "z;a", "query", "x", "price", "1e6", "age", "10", "score", "-2", "label", "0.2"));
    Transforms fitted = Transforms.fit(s, records);
    Transforms loaded = Transforms.fromJson(fitted.toJson());
    assertThat(loaded.toJson()).isEqualTo(fitted.toJson());
    assertThat(loaded.modelFields()).isEqualTo(fitted.modelFields());
    assertThat(loaded.tasks()).containsExactly("click", "buy");
    Batch a = featurize(fitted, records);
    Batch b = featurize(loaded, records);
    ModelConfig config = Fixtures.config(fitted);
    for (int i = 0; i < records.size(); i++) {
      for (int c = 0; c < config.categoricalFields().size(); c++) {
        assertThat(b.categorical(i, c)).isEqualTo(a.categorical(i, c));
      }
      assertThat(b.bag(i, 0)).isEqualTo(a.bag(i, 0));
      for (int d = 0; d < config.numDense(); d++) {
        assertThat(Float.floatToIntBits(b.dense(i, d))).isEqualTo(Float.floatToIntBits(a.dense(i, d)));
      }
      for (int task = 0; task < 2; task++) {
        assertThat(b.label(i, task)).isEqualTo(a.label(i, task));
        assertThat(b.labelMask(i, task)).isEqualTo(a.labelMask(i, task));
      }
    }
    // Spot checks of the rules: bag items a and b are kept (count >= 2), c and z are not.
    assertThat(a.bag(1, 0)).containsExactly(2, 0, 1);
    assertThat(a.bag(2, 0)).isEmpty();
    assertThat(a.label(0, 0)).isEqualTo(1f);
    assertThat(a.label(3, 0)).isEqualTo(0f);
    assertThat(a.labelMask(2, 0)).isZero();
    assertThat(a.labelMask(2, 1)).isZero();
    assertThat(a.label(1, 1)).isZero();
    assertThat(a.labelMask(1, 1)).isEqualTo(1f);
  }

  @Test
  void storedInTheModelFileMetadata(@TempDir Path dir) throws IOException {
    Transforms t = fit("  - {name: c, kind: categorical, side: item}\n  - {name: x, kind: dense, side: user, standardize: true}",
        List.of(record("c", "a", "x", "1"), record("c", "b", "x", "2")));
    Path file = dir.resolve("m.safetensors");
    ModelFile.write(file, Parameters.initialize(Fixtures.config(t), 1), Map.of(Transforms.METADATA_KEY, t.toJson()));
    Transforms loaded = Transforms.fromJson(ModelFile.load(file).metadata().get(Transforms.METADATA_KEY));
    assertThat(loaded.toJson()).isEqualTo(t.toJson());
    assertThat(ids(loaded, "c", "b", "a", "z")).containsExactly(2, 1, 0);
  }

  @Test
  void fromJsonRejectsOtherText() {
    assertThatThrownBy(() -> Transforms.fromJson("{")).hasMessageContaining("transforms: not JSON");
    assertThatThrownBy(() -> Transforms.fromJson("{\"format\": 2}")).hasMessageContaining("\"format\": 1");
  }

  @Test
  void labelThatIsNotANumberIsABadRow() {
    Transforms t = fit("  - {name: x, kind: dense, side: user}", List.of());
    assertThatThrownBy(() -> new Featurizer(t).add(located("a.csv:2", record("y", "yes")), batch(t, 1)))
        .hasMessage("a.csv:2: task 'y': column 'y' holds 'yes', not a number");
  }

  private static Batch featurize(Transforms t, List<RawRecord> records) {
    Featurizer f = new Featurizer(t);
    Batch batch = batch(t, records.size());
    records.forEach(r -> f.add(r, batch));
    return batch;
  }
}
