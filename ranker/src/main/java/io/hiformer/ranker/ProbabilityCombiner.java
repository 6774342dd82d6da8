package io.hiformer.ranker;

/** Combines one candidate's per-task probabilities into the score candidates are ordered by. */
@FunctionalInterface
interface ProbabilityCombiner {

  /** The combined score of {@code probabilities[offset .. offset + tasks)}. */
  float combine(float[] probabilities, int offset, int tasks);

  /** The default: the mean of the task probabilities (with one task, its probability). */
  ProbabilityCombiner MEAN = (p, offset, tasks) -> {
    double sum = 0;
    for (int t = 0; t < tasks; t++) {
      sum += p[offset + t];
    }
    return (float) (sum / tasks);
  };
}
