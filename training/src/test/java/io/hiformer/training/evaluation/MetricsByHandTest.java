package io.hiformer.training.evaluation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.hiformer.training.Auc;
import io.hiformer.training.evaluation.EvaluationResult.TaskTable;
import io.hiformer.training.evaluation.EvaluationResult.VersionMetrics;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Every metric against values worked out by hand on small fixed data, and AUC against {@link Auc}. */
class MetricsByHandTest {

  private static double log2(double x) {
    return Math.log(x) / Math.log(2);
  }

  private static float logit(double p) {
    return (float) Math.log(p / (1 - p));
  }

  @Test
  void aucCountsTiesAsOneHalf() {
    // positives at 0.4, 0.8, 0.9; negatives at 0.1, 0.4, 0.8. Pairs won: 0.4 beats 0.1 and ties
    // 0.4 (1.5), 0.8 beats 0.1 and 0.4 and ties 0.8 (2.5), 0.9 beats all three (3): 7 of 9.
    float[] scores = {0.1f, 0.4f, 0.4f, 0.8f, 0.8f, 0.9f};
    float[] labels = {0, 1, 0, 1, 0, 1};
    ScoreTable table = new ScoreTable(ScoreTable.OVERALL_LIMIT);
    for (int i = 0; i < scores.length; i++) {
      table.add(scores[i], labels[i] > 0.5f);
    }
    assertThat(table.sorted().auc()).isEqualTo(7.0 / 9);
    assertThat(table.shift()).isZero();

    Ranking ranking = new Ranking();
    ranking.set(scores, labels, scores.length);
    assertThat(ranking.auc()).isEqualTo(7.0 / 9);
  }

  @Test
  void aucEqualsTheTrainersExactAucBitForBitOnTiedRandomScores() {
    SplittableRandom rnd = new SplittableRandom(7);
    int n = 20_000;
    float[] scores = new float[n];
    float[] labels = new float[n];
    ScoreTable table = new ScoreTable(ScoreTable.OVERALL_LIMIT);
    for (int i = 0; i < n; i++) {
      // few distinct scores, so most pairs are ties; -0 and 0 both occur
      scores[i] = (float) (Math.round(rnd.nextGaussian() * 8) / 4.0) * (rnd.nextBoolean() ? 1 : -1);
      labels[i] = rnd.nextDouble() < 1 / (1 + Math.exp(-scores[i])) ? 1 : 0;
      table.add(scores[i], labels[i] > 0.5f);
    }
    assertThat(table.sorted().auc()).isEqualTo(Auc.of(scores, labels, n));
  }

  @Test
  void aScoreTableOverItsLimitRoundsScoresAndStaysBounded() {
    SplittableRandom rnd = new SplittableRandom(3);
    int n = 5_000;
    float[] scores = new float[n];
    float[] labels = new float[n];
    ScoreTable table = new ScoreTable(64);
    for (int i = 0; i < n; i++) {
      scores[i] = (float) rnd.nextGaussian();
      labels[i] = rnd.nextDouble() < 1 / (1 + Math.exp(-2 * scores[i])) ? 1 : 0;
      table.add(scores[i], labels[i] > 0.5f);
    }
    int shift = table.shift();
    assertThat(shift).isPositive();
    assertThat(table.distinct()).isLessThanOrEqualTo(64);
    assertThat(table.sorted().positives() + table.sorted().negatives()).isEqualTo(n);
    // Its AUC is exactly that of the scores with the dropped low bits cleared.
    float[] rounded = new float[n];
    for (int i = 0; i < n; i++) {
      rounded[i] = ScoreTable.fromSortable((ScoreTable.sortable(scores[i]) >> shift) << shift);
    }
    assertThat(table.sorted().auc()).isEqualTo(Auc.of(rounded, labels, n));

    ScoreTable other = new ScoreTable(ScoreTable.OVERALL_LIMIT);
    other.add(0.5f, true);
    other.merge(table);
    assertThat(other.shift()).isEqualTo(shift);
    assertThat(other.sorted().positives() + other.sorted().negatives()).isEqualTo(n + 1);
  }

  @Test
  void sliceValuesBeyondTheCapArePooled() {
    Evaluation.SliceValues values = new Evaluation.SliceValues("country", 2);
    assertThat(values.id("de")).isZero();
    assertThat(values.id(null)).isOne();
    assertThat(values.id("fr")).isEqualTo(2);
    assertThat(values.id("it")).isEqualTo(2);
    assertThat(values.id("")).isOne();
    assertThat(values.id("de")).isZero();
    assertThat(values.names).containsExactly("de", Evaluation.MISSING, Evaluation.OTHER);
    assertThat(values.capped).isTrue();
  }

  @Test
  void ndcgMrrAndGroupAucOfOneGroupWithATie() {
    // Descending: score 3 (label 0), then a tie at 2 (labels 1 and 0), then score 1 (label 1).
    float[] scores = {3, 2, 2, 1};
    float[] labels = {0, 1, 0, 1};
    Ranking r = new Ranking();
    r.set(scores, labels, 4);
    // The tie shares its gain: 0.5 at positions 2 and 3.
    double dcg4 = 0 / log2(2) + 0.5 / log2(3) + 0.5 / log2(4) + 1 / log2(5);
    double ideal4 = 1 / log2(2) + 1 / log2(3);
    assertThat(r.ndcg(4)).isCloseTo(dcg4 / ideal4, within(1e-12));
    assertThat(r.ndcg(4)).isCloseTo(0.610781, within(1e-6));
    assertThat(r.ndcg(2)).isCloseTo((0.5 / log2(3)) / ideal4, within(1e-12));
    assertThat(r.ndcg(1)).isZero();
    // The first positive is in the tie at positions 2-3: rank 2 or 3 with even odds.
    assertThat(r.reciprocalRank()).isCloseTo((1.0 / 2 + 1.0 / 3) / 2, within(1e-12));
    // Positives at 2 and 1, negatives at 3 and 2: only the tie 2-2 counts, one half of 4 pairs.
    assertThat(r.auc()).isEqualTo(0.125);

    r.set(new float[] {5, 5, 5}, new float[] {1, 1, 0}, 3);
    // A three-way tie with two positives: the first positive is first with odds 2/3, else second.
    assertThat(r.reciprocalRank()).isCloseTo(2.0 / 3 + (1.0 / 3) / 2, within(1e-12));
    assertThat(r.ndcg(3)).isCloseTo((2.0 / 3) * (1 + 1 / log2(3) + 1 / log2(4)) / (1 + 1 / log2(3)), within(1e-12));

    r.set(new float[] {1, 2}, new float[] {0, 0}, 2);
    assertThat(r.ndcg(10)).isNaN();
    assertThat(r.reciprocalRank()).isNaN();
    assertThat(r.auc()).isNaN();
  }

  @Test
  void tablesOverGroupsMatchTheHandWorkedValues() {
    Accumulator.Layout layout = Accumulator.Layout.of(200, 10, new int[] {2, 4});
    Evaluation.SliceValues country = new Evaluation.SliceValues("country", 30);
    Aggregator agg = new Aggregator(layout, 2, 1, 1, 1, 0, "request");
    // Version A's probabilities; version B scores every row 0.5.
    // request r1: p 0.05 (y 0), 0.15 (y 1), 0.15 (y 0), 0.95 (y 1); r2: p 0.15 (y 0); r3: 0.95 (y 1)
    double[] p = {0.05, 0.15, 0.15, 0.95, 0.15, 0.95};
    float[] y = {0, 1, 0, 1, 0, 1};
    String[] group = {"r1", "r1", "r1", "r1", "r2", "r3"};
    String[] where = {"de", "de", "fr", "fr", "de", "fr"};
    for (int i = 0; i < p.length; i++) {
      agg.add(group[i], Bootstrap.hash(group[i]), i, new float[] {logit(p[i]), 0f}, new float[] {y[i]},
          new float[] {1}, new int[] {country.id(where[i])}, "row " + i);
    }
    agg.finish();
    List<EvaluationResult.ModelVersion> versions = List.of(new EvaluationResult.ModelVersion("m", 1, "v1", "", "hiformer"),
        new EvaluationResult.ModelVersion("m", 2, "v2", "", "vanilla"));
    EvaluationResult result = new Results(versions, List.of("click"),
        new Evaluation.Options(200, 0.95, 1, List.of(2, 4), 10, null, 0, List.of("country"), 30, 1, 1),
        List.of(country)).build(agg, "hand", "request", 0, 0);

    TaskTable table = result.overall().tasks().getFirst();
    VersionMetrics a = table.versions().get(0);
    VersionMetrics b = table.versions().get(1);
    assertThat(a.rows()).isEqualTo(6);
    assertThat(a.positives()).isEqualTo(3);
    assertThat(result.groups()).isEqualTo(3);
    // AUC: positives 0.15, 0.95, 0.95 against negatives 0.05, 0.15, 0.15: the 0.15 beats 0.05 and ties
    // two 0.15s (1 + 2 * 0.5); each 0.95 beats all three: (2 + 6) / 9.
    assertThat(a.metrics().get("auc")).isCloseTo(8.0 / 9, within(1e-12));
    assertThat(b.metrics().get("auc")).isEqualTo(0.5);
    double ll = -(Math.log(1 - 0.05) + Math.log(0.15) + Math.log(1 - 0.15) + Math.log(0.95) + Math.log(1 - 0.15)
        + Math.log(0.95)) / 6;
    assertThat(a.metrics().get("logloss")).isCloseTo(ll, within(1e-6));
    assertThat(b.metrics().get("logloss")).isCloseTo(Math.log(2), within(1e-12));
    // ECE, 10 bins: bin 0 |0.05 - 0|, bin 1 |0.45 - 1| (three rows at 0.15), bin 9 |1.90 - 2|; over 6 rows.
    assertThat(a.metrics().get("ece")).isCloseTo((0.05 + 0.55 + 0.10) / 6, within(1e-6));
    assertThat(a.metrics().get("ratio")).isCloseTo((0.05 + 0.15 * 3 + 0.95 * 2) / 3, within(1e-6));
    // GAUC: only r1 has both classes; its AUC: positives 0.15, 0.95 vs negatives 0.05, 0.15:
    // 1 + 0.5 + 1 + 1 = 3.5 of 4.
    assertThat(a.metrics().get("gauc")).isCloseTo(3.5 / 4, within(1e-12));
    // NDCG@2 over r1 and r3 (r2 has no positive). r1 descending: 0.95 (1), 0.15 (1) tied with 0.15 (0),
    // 0.05 (0): DCG@2 = 1 + 0.5 / log2(3); ideal 1 + 1 / log2(3). r3: 1.
    double r1 = (1 + 0.5 / log2(3)) / (1 + 1 / log2(3));
    assertThat(a.metrics().get("ndcg@2")).isCloseTo((r1 + 1) / 2, within(1e-12));
    // NDCG@4 of r1 adds the tie's other half at position 3; position 4 has gain 0.
    double r1at4 = (1 + 0.5 / log2(3) + 0.5 / log2(4)) / (1 + 1 / log2(3));
    assertThat(a.metrics().get("ndcg@4")).isCloseTo((r1at4 + 1) / 2, within(1e-12));
    assertThat(a.metrics().get("mrr")).isEqualTo(1.0);
    // B ties everything: r1's first positive is at 1..4 with 2 positives of 4: 1/2 + (1/3)/2... expected
    // 1 * 2/4 + 1/2 * (2/4 * 2/3) + 1/3 * (2/4 * 1/3 * 2/2) = 1/2 + 1/6 + 1/18; r3: 1.
    assertThat(b.metrics().get("mrr")).isCloseTo((0.5 + 1.0 / 6 + 1.0 / 18 + 1) / 2, within(1e-12));

    EvaluationResult.Delta auc = table.deltas().stream().filter(d -> d.metric().equals("auc")).findFirst().orElseThrow();
    assertThat(auc.delta()).isCloseTo(0.5 - 8.0 / 9, within(1e-12));
    assertThat(auc.version()).isEqualTo("v2");
    assertThat(auc.baseline()).isEqualTo("v1");
    // Three requests are too few to resample: no interval, no verdict.
    assertThat(auc.verdict()).isEqualTo(EvaluationResult.Verdict.TOO_FEW_GROUPS);
    assertThat(auc.lo()).isNaN();

    // Slices: "de" holds r1's first two rows and r2; "fr" r1's last two and r3.
    EvaluationResult.SliceField slice = result.slices().getFirst();
    assertThat(slice.values()).extracting(EvaluationResult.Cell::value).containsExactlyInAnyOrder("de", "fr");
    EvaluationResult.Cell de = slice.values().stream().filter(c -> c.value().equals("de")).findFirst().orElseThrow();
    assertThat(de.rows()).isEqualTo(3);
    assertThat(de.groups()).isEqualTo(2);
    // de: positives 0.15; negatives 0.05, 0.15 -> (1 + 0.5) / 2
    assertThat(de.tasks().getFirst().versions().getFirst().metrics().get("auc")).isEqualTo(0.75);
    // B loses 0.25 AUC on de (0.75 -> 0.5) and 0.5 on fr (1 -> 0.5), but neither has the groups for an
    // interval, so neither is flagged as a mover.
    assertThat(slice.values()).noneMatch(EvaluationResult.Cell::mover);
  }
}
