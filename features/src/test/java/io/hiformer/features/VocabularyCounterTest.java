package io.hiformer.features;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class VocabularyCounterTest {

  @Test
  void spilledCountsMergeToTheSameVocabularyAsOneMap() {
    List<String> values = skewed(20_000, 3_000);
    for (int[] rule : new int[][] {{1, 0}, {2, 0}, {2, 100}, {1, 7}}) {
      VocabularyCounter inMemory = new VocabularyCounter("f");
      VocabularyCounter spilled = new VocabularyCounter("f");
      int n = 0;
      for (String v : values) {
        inMemory.add(v);
        spilled.add(v);
        if (++n % 997 == 0) {
          spilled.spill();
        }
      }
      assertThat(spilled.runs()).isGreaterThan(10);
      assertThat(inMemory.runs()).isZero();
      assertThat(spilled.vocabulary(rule[0], rule[1])).isEqualTo(inMemory.vocabulary(rule[0], rule[1]));
    }
  }

  @Test
  void maxVocabularyKeepsTheMostFrequentAndBreaksTiesByValue() {
    VocabularyCounter c = new VocabularyCounter("f");
    for (String v : List.of("a", "b", "b", "c", "c", "d", "d", "e", "e", "e")) {
      c.add(v);
    }
    assertThat(c.vocabulary(1, 3)).containsExactly("e", "b", "c");
    VocabularyCounter min = new VocabularyCounter("f");
    List.of("a", "b", "b").forEach(min::add);
    assertThat(min.vocabulary(2, 0)).containsExactly("b");
  }

  @Test
  void aFitterOverItsBudgetSpillsAndFitsWhatAnUnboundedOneFits() throws Exception {
    FeatureSchema schema = TransformsTest.schema("""
          - {name: user, kind: categorical, side: user, min_count: 2, max_vocabulary: 500}
          - {name: item, kind: categorical, side: item}
          - {name: tags, kind: bag, side: item}
        """);
    List<String> users = skewed(30_000, 5_000);
    List<String> items = skewed(30_000, 800);
    List<RawRecord> records = new ArrayList<>();
    for (int i = 0; i < users.size(); i++) {
      records.add(RawRecord.of(java.util.Map.of("user", users.get(i), "item", items.get(i),
          "tags", items.get((i * 7) % items.size()) + "|" + users.get((i * 3) % users.size()), "y", "1")));
    }
    String expected = Transforms.fit(schema, records).toJson();
    long tempFiles = countTempRuns();
    try (TransformFitter small = new TransformFitter(schema, 300)) {
      records.forEach(small::add);
      Transforms fitted = small.fitted();
      assertThat(fitted.toJson()).isEqualTo(expected);
    }
    assertThat(countTempRuns()).as("spilled runs deleted").isEqualTo(tempFiles);
    assertThat(Transforms.fromJson(expected).modelFields().getFirst().vocab()).isEqualTo(501);
  }

  private static long countTempRuns() throws Exception {
    try (var s = Files.list(Path.of(System.getProperty("java.io.tmpdir")))) {
      return s.filter(p -> p.getFileName().toString().startsWith("hiformer-vocab-")).count();
    }
  }

  /** {@code n} draws of {@code distinct} values with a power law: a few frequent, many rare. */
  private static List<String> skewed(int n, int distinct) {
    SplittableRandom rnd = new SplittableRandom(7);
    List<String> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add("v" + (int) (distinct * Math.pow(rnd.nextDouble(), 3)));
    }
    return out;
  }
}
