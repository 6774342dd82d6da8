package io.hiformer.training.evaluation;

import java.util.ArrayList;
import java.util.List;

/**
 * The metrics of an evaluation, in a fixed order: AUC, log loss, expected calibration error,
 * predicted/observed ratio, GAUC, NDCG at each requested k, MRR.
 */
final class MetricSet {
  static final int AUC = 0;
  static final int LOGLOSS = 1;
  static final int ECE = 2;
  static final int RATIO = 3;
  static final int GAUC = 4;
  static final int FIXED = 5;

  private MetricSet() {}

  static List<EvaluationResult.Metric> of(int[] ndcgAt) {
    List<EvaluationResult.Metric> out = new ArrayList<>();
    out.add(new EvaluationResult.Metric("auc", EvaluationResult.Direction.HIGHER));
    out.add(new EvaluationResult.Metric("logloss", EvaluationResult.Direction.LOWER));
    out.add(new EvaluationResult.Metric("ece", EvaluationResult.Direction.LOWER));
    out.add(new EvaluationResult.Metric("ratio", EvaluationResult.Direction.TOWARDS_ONE));
    out.add(new EvaluationResult.Metric("gauc", EvaluationResult.Direction.HIGHER));
    for (int k : ndcgAt) {
      out.add(new EvaluationResult.Metric("ndcg@" + k, EvaluationResult.Direction.HIGHER));
    }
    out.add(new EvaluationResult.Metric("mrr", EvaluationResult.Direction.HIGHER));
    return out;
  }
}
