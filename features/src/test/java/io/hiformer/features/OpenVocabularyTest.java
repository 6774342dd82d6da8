package io.hiformer.features;

import static io.hiformer.features.Fixtures.record;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hiformer.model.Batch;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Growing vocabularies: admission at min_count, expiry after the TTL, rows and candidates bounded. */
class OpenVocabularyTest {
  static final String TASKS = "missing_values: [unknown]\ntasks: [{name: y}]\nfields:\n";

  static OpenVocabularies open(String field) {
    return OpenVocabularies.of(Transforms.fit(FeatureSchema.parse(TASKS + "  - " + field),
        List.of(record("y", "1"))));
  }

  static OpenVocabulary vocabulary(OpenVocabularies v) {
    return v.current().fields.getFirst().open;
  }

  @Test
  void streamingTenTimesMoreIdsThanTheMaximumNeverExceedsItAndCountsTheExpired() {
    int max = 50;
    OpenVocabularies v = open("{name: item, kind: categorical, side: item, open: true, min_count: 2, ttl: 100,"
        + " max_vocabulary: " + max + "}");
    OpenVocabulary vocab = vocabulary(v);
    Set<String> admitted = new HashSet<>();
    int distinct = 10 * max;
    // Each id comes in a burst of three sightings, then never again: every one is admitted on its
    // second sighting, and has to expire for later ids to get rows.
    for (int i = 0; i < distinct; i++) {
      for (int k = 0; k < 3; k++) {
        v.observe(record("item", "i" + i));
        assertThat(vocab.size()).isLessThanOrEqualTo(max);
        assertThat(vocab.candidates()).isLessThanOrEqualTo(max);
      }
      if (vocab.row("i" + i) > 0) {
        admitted.add("i" + i);
      }
    }
    assertThat(admitted).hasSize(distinct);  // rows were recycled: all 500 got one in turn
    OpenVocabulary.Stats stats = vocab.stats();
    assertThat(stats.admitted()).isEqualTo(distinct);
    // Every id admitted and then unseen for more than 100 examples expired: all but the most recent.
    assertThat(stats.expired()).isEqualTo(distinct - stats.size());
    assertThat(stats.size()).isBetween(33, 35);  // ids seen in the last 100 examples (3 each)
    assertThat(stats.refused()).isZero();
    int[] rows = v.drain().getFirst().admitted();
    assertThat(rows).hasSize(distinct);
    assertThat(java.util.Arrays.stream(rows).boxed().toList()).allMatch(r -> r >= 1 && r <= max);
    assertThat(v.drain().getFirst().admitted()).isEmpty();
    assertThat(v.examples()).isEqualTo(3L * distinct);
  }

  @Test
  void atTheMaximumWithNothingExpiredNewIdsStayUnknownAndAreCounted() {
    OpenVocabularies v = open("{name: item, kind: categorical, side: item, open: true, max_vocabulary: 3}");
    OpenVocabulary vocab = vocabulary(v);
    for (int i = 0; i < 1000; i++) {
      v.observe(record("item", "i" + i));
    }
    assertThat(vocab.size()).isEqualTo(3);
    assertThat(vocab.row("i0")).isEqualTo(1);
    assertThat(vocab.row("i999")).isZero();
    assertThat(vocab.stats().refused()).isEqualTo(997);
    assertThat(vocab.stats().expired()).isZero();
    assertThat(vocab.candidates()).isLessThanOrEqualTo(3);
  }

  @Test
  void idsAreAdmittedAtMinCountAndFeaturiseAsSoonAsAdmitted() {
    OpenVocabularies v = open("{name: item, kind: categorical, side: item, open: true, min_count: 3,"
        + " max_vocabulary: 10}");
    Featurizer featurizer = new Featurizer(v.current());
    assertThat(id(featurizer, v.current(), "new")).isZero();
    v.observe(record("item", "new"));
    v.observe(record("item", "new"));
    assertThat(vocabulary(v).row("new")).isZero();
    v.observe(record("item", "unknown"));  // a missing value counts nothing
    v.observe(record("item", "unknown"));
    v.observe(record("item", "unknown"));
    assertThat(vocabulary(v).candidates()).isEqualTo(1);
    assertThat(v.drain().getFirst().admitted()).isEmpty();
    v.observe(record("item", "new"));
    assertThat(vocabulary(v).row("new")).isEqualTo(1);
    assertThat(id(featurizer, v.current(), "new")).isEqualTo(1);
    assertThat(v.drain().getFirst().admitted()).containsExactly(1);
  }

  @Test
  void anExpiredRowIsRecycledForTheNextIdAndReportedForInitialisation() {
    OpenVocabularies v = open("{name: item, kind: categorical, side: item, open: true, ttl: 2, max_vocabulary: 1}");
    v.observe(record("item", "a"));
    assertThat(vocabulary(v).row("a")).isEqualTo(1);
    v.observe(record("item", "b"));  // refused: the table is full and 'a' is fresh
    v.observe(record("item", "x"));
    assertThat(vocabulary(v).row("b")).isZero();
    v.observe(record("item", "b"));  // 'a' was last seen 3 examples ago: expired, its row goes to 'b'
    assertThat(vocabulary(v).row("a")).isZero();
    assertThat(vocabulary(v).row("b")).isEqualTo(1);
    OpenVocabularies.Growth g = v.drain().getFirst();
    assertThat(g.admitted()).containsExactly(1, 1);
    assertThat(g.expired()).containsExactly(1);
    assertThat(g.tensor()).isEqualTo("emb.item");
    assertThat(vocabulary(v).stats()).extracting(OpenVocabulary.Stats::expired, OpenVocabulary.Stats::refused)
        .containsExactly(1L, 2L);
  }

  @Test
  void anIdAdmittedAtOnceTakesNoCandidatePlace() {
    OpenVocabularies v = open("{name: item, kind: categorical, side: item, open: true, ttl: 3, max_vocabulary: 2}");
    for (String id : List.of("a", "b", "c", "d")) {
      v.observe(record("item", id));  // c and d are refused (full) and wait as candidates: the set is full
    }
    v.observe(record("item", "e"));  // 'a' expired: 'e' takes its row without pushing a candidate out
    assertThat(vocabulary(v).row("e")).isEqualTo(1);
    assertThat(vocabulary(v).candidates()).isEqualTo(2);
    assertThat(vocabulary(v).stats().droppedCandidates()).isZero();
    v.observe(record("item", "c"));  // 'b' expired: the waiting 'c' gets its row on its next sighting
    assertThat(vocabulary(v).row("c")).isEqualTo(2);
  }

  @Test
  void bagItemsGrowTheirField() {
    OpenVocabularies v = open("{name: tags, kind: bag, side: item, open: true, max_vocabulary: 4}");
    v.observe(record("tags", "a|b|unknown"));
    assertThat(vocabulary(v).size()).isEqualTo(2);
    Batch b = Fixtures.batch(v.current(), 1);
    new Featurizer(v.current()).add(record("tags", "b|c"), b);
    assertThat(new int[] {b.bagId(b.bagStart(0, 0)), b.bagId(b.bagStart(0, 0) + 1)}).containsExactly(2, 0);
  }

  @Test
  void theModelFileRecordsTheVocabularyAndItsGrowthStateExactly() {
    OpenVocabularies v = open("{name: item, kind: categorical, side: item, open: true, min_count: 2, ttl: 5,"
        + " max_vocabulary: 4}");
    for (int i = 0; i < 40; i++) {
      v.observe(record("item", "i" + (i % 7) * (i % 3)));
    }
    Transforms snapshot = v.snapshot();
    String json = snapshot.toJson();
    Transforms read = Transforms.fromJson(json);
    assertThat(read.toJson()).isEqualTo(json);
    assertThat(read.modelFields().getFirst().vocab()).isEqualTo(5);
    assertThat(json).contains("\"open\":true", "\"ttl\":5", "\"open_state\":");
    // Growth continues from the file exactly as from the live state.
    OpenVocabularies resumed = OpenVocabularies.of(read);
    for (int i = 40; i < 80; i++) {
      v.observe(record("item", "i" + (i % 11)));
      resumed.observe(record("item", "i" + (i % 11)));
    }
    assertThat(resumed.snapshot().toJson()).isEqualTo(v.snapshot().toJson());
    // The snapshot did not move with the live vocabularies.
    assertThat(snapshot.toJson()).isEqualTo(json);
    assertThat(read.sameFixedFields(v.snapshot())).isTrue();
  }

  @Test
  void damagedStoredStateIsRefusedWithOneLine() {
    OpenVocabularies v = open("{name: item, kind: categorical, side: item, open: true, max_vocabulary: 4}");
    v.observe(record("item", "a"));
    v.observe(record("item", "b"));
    String json = v.snapshot().toJson();
    assertThatThrownBy(() -> Transforms.fromJson(json.replace("[\"a\",\"b\"]", "[\"a\",\"a\"]")))
        .hasMessageContaining("open vocabulary of field 'item': vocabulary entry 2 must be a distinct string");
    assertThatThrownBy(() -> Transforms.fromJson(json.replace("\"next_row\":3", "\"next_row\":9")))
        .hasMessageContaining("open vocabulary of field 'item': 'next_row' must be in [1, 5], got 9");
    assertThatThrownBy(() -> Transforms.fromJson(json.replace("\"rows\":[1,2]", "\"rows\":[1,1]")))
        .hasMessageContaining("row 1 (last seen");
    assertThatThrownBy(() -> Transforms.fromJson(json.replaceFirst(",\"open_state\":\\{[^}]*}", "")))
        .hasMessageContaining("'open_state' is missing");
  }

  @Test
  void schemaValuesAreValidated() {
    assertError("{name: a, kind: categorical, side: user, open: true}",
        "field 'a': an open field needs max_vocabulary");
    assertError("{name: a, kind: categorical, side: user, open: yes please, max_vocabulary: 5}",
        "field 'a': open must be true or false");
    assertError("{name: a, kind: categorical, side: user, ttl: 5, max_vocabulary: 5}",
        "field 'a': ttl applies only to an open field");
    assertError("{name: a, kind: categorical, side: user, open: true, ttl: 0, max_vocabulary: 5}",
        "field 'a': ttl must be a positive integer, got 0");
    assertError("{name: a, kind: categorical, side: user, open: true, ttl: 1.5, max_vocabulary: 5}",
        "field 'a': ttl must be a positive integer, got 1.5");
    assertError("{name: a, kind: categorical, side: user, open: true, ttl: 99999999999999999999, max_vocabulary: 5}",
        "field 'a': ttl must be a positive integer");
    assertError("{name: a, kind: categorical, side: user, open: true, max_vocabulary: 2000000000}",
        "field 'a': max_vocabulary of an open field must be at most 1000000");
    assertError("{name: a, kind: categorical, side: user, open: true, max_vocabulary: -1}",
        "field 'a': max_vocabulary must be a positive integer, got -1");
    assertError("{name: a, kind: categorical, side: user, open: true, hash_buckets: 10}",
        "field 'a': an open field grows a vocabulary; it cannot also use hash_buckets");
    assertError("{name: a, kind: dense, side: user, open: true}", "field 'a': 'open' does not apply to a dense field");
    FeatureSchema.Field f = FeatureSchema.parse(TASKS + "  - {name: a, kind: bag, side: user, open: true, ttl: 7,"
        + " max_vocabulary: 9}").fields().getFirst();
    assertThat(f.open()).isTrue();
    assertThat(f.ttl()).isEqualTo(7);
  }

  @Test
  void openFieldsMustReadAColumnTrainingExamplesCarry() {
    OpenVocabularies.requireExampleColumns(open(
        "{name: item, column: item_id, kind: categorical, side: item, open: true, max_vocabulary: 4}").current());
    assertThatThrownBy(() -> OpenVocabularies.requireExampleColumns(open(
        "{name: cat, kind: categorical, side: item, open: true, max_vocabulary: 4}").current()))
        .hasMessage("field 'cat' is open but reads column 'cat'; training examples carry the raw values of user_id"
            + " and item_id only, so it cannot grow from the examples topic");
  }

  private static int id(Featurizer featurizer, Transforms t, String value) {
    Batch b = Fixtures.batch(t, 1);
    featurizer.add(record("item", value), b);
    return b.categorical(0, 0);
  }

  private static void assertError(String field, String message) {
    assertThatThrownBy(() -> FeatureSchema.parse(TASKS + "  - " + field))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("feature schema: ")
        .hasMessageContaining(message);
  }
}
