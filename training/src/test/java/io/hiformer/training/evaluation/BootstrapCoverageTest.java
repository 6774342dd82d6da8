package io.hiformer.training.evaluation;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * In simulation, 95% paired group-bootstrap intervals of the difference between two versions
 * cover the true difference about 95% of the time, for every metric whose estimator is unbiased
 * for its population value; and resampling rows instead of groups would give too narrow intervals
 * on data whose rows are correlated within groups. (Expected calibration error is left out: its
 * estimate is biased upwards in small samples, so no interval centred on it covers the population
 * value at the nominal rate.)
 */
class BootstrapCoverageTest {
  private static final List<String> METRICS = List.of("auc", "logloss", "ratio", "gauc", "ndcg@5", "mrr");
  private static final int TRIALS = 200;
  private static final int GROUPS = 300;
  private static final int REPLICATES = 200;

  /**
   * Requests of 3 to 10 rows; a request effect moves the labels of all its rows, and each version
   * sees it only in part, with request-level errors of its own: rows of one request are correlated.
   */
  private static Aggregator simulate(SplittableRandom rnd, int groups, int replicates, boolean byRow) {
    Aggregator agg = new Aggregator(Accumulator.Layout.of(replicates, 10, new int[] {5}), 2, 1, 0, rnd.nextLong(), 0,
        "request");
    long seq = 0;
    for (int g = 0; g < groups; g++) {
      int rows = 3 + rnd.nextInt(8);
      double effect = rnd.nextGaussian();
      double errorA = rnd.nextGaussian();
      double errorB = rnd.nextGaussian();
      for (int r = 0; r < rows; r++) {
        double x = rnd.nextGaussian();
        double truth = -0.5 + 1.2 * x + effect;
        float y = rnd.nextDouble() < 1 / (1 + Math.exp(-truth)) ? 1 : 0;
        float a = (float) (-0.4 + 1.0 * x + 0.5 * effect + 0.9 * errorA + 0.6 * rnd.nextGaussian());
        float b = (float) (-0.5 + 1.1 * x + 0.7 * effect + 0.9 * errorB + 0.6 * rnd.nextGaussian());
        String key = byRow ? "row" + seq : "g" + g;
        agg.add(key, Bootstrap.hash(key), seq++, new float[] {a, b}, new float[] {y}, new float[] {1}, new int[0], "");
      }
    }
    agg.finish();
    return agg;
  }

  private static Map<String, EvaluationResult.Delta> deltas(Aggregator agg, int replicates) {
    Evaluation.Options options = new Evaluation.Options(replicates, 0.95, 1, List.of(5), 10, null, 0, List.of(), 30, 0, 1);
    EvaluationResult result = new Results(List.of(new EvaluationResult.ModelVersion("m", 1, "v1", "", "hiformer"),
        new EvaluationResult.ModelVersion("m", 2, "v2", "", "hiformer")), List.of("click"), options, List.of())
        .build(agg, "simulation", "request", 0, 0);
    Map<String, EvaluationResult.Delta> out = new HashMap<>();
    for (EvaluationResult.Delta d : result.overall().tasks().getFirst().deltas()) {
      out.put(d.metric(), d);
    }
    return out;
  }

  @Test
  void intervalsCoverTheTrueDifferenceAtAboutTheNominalRate() {
    // The population's differences, from one sample 250 times larger than each trial's.
    Map<String, EvaluationResult.Delta> population = deltas(simulate(new SplittableRandom(99), 75_000, 20, false), 20);

    SplittableRandom rnd = new SplittableRandom(2024);
    Map<String, Integer> covered = new HashMap<>();
    Map<String, Integer> coveredByRow = new HashMap<>();
    double widthByGroup = 0;
    double widthByRow = 0;
    for (int trial = 0; trial < TRIALS; trial++) {
      long seed = rnd.nextLong();
      Map<String, EvaluationResult.Delta> byGroup = deltas(simulate(new SplittableRandom(seed), GROUPS, REPLICATES, false),
          REPLICATES);
      Map<String, EvaluationResult.Delta> byRow = deltas(simulate(new SplittableRandom(seed), GROUPS, REPLICATES, true),
          REPLICATES);
      for (String m : METRICS) {
        double truth = population.get(m).delta();
        EvaluationResult.Delta d = byGroup.get(m);
        if (d.lo() <= truth && truth <= d.hi()) {
          covered.merge(m, 1, Integer::sum);
        }
        EvaluationResult.Delta r = byRow.get(m);
        if (r.lo() <= truth && truth <= r.hi()) {
          coveredByRow.merge(m, 1, Integer::sum);
        }
      }
      widthByGroup += byGroup.get("logloss").hi() - byGroup.get("logloss").lo();
      widthByRow += byRow.get("logloss").hi() - byRow.get("logloss").lo();
    }
    for (String m : METRICS) {
      double rate = covered.getOrDefault(m, 0) / (double) TRIALS;
      assertThat(rate).as("coverage of %s (true difference %.5f; rows resampled instead: %.3f)", m,
          population.get(m).delta(), coveredByRow.getOrDefault(m, 0) / (double) TRIALS).isBetween(0.90, 0.99);
    }
    // Rows of a request are correlated: treating them as independent understates the uncertainty
    // (seen: logloss intervals 14% narrower, the ratio's difference covered 62% of the time).
    assertThat(widthByRow).isLessThan(0.9 * widthByGroup);
    assertThat(coveredByRow.getOrDefault("ratio", 0) / (double) TRIALS).isLessThan(0.85);
    // The simulated versions do differ, so the intervals are about a real difference.
    assertThat(Math.abs(population.get("auc").delta())).isGreaterThan(0.005);
  }
}
