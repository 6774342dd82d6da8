package io.hiformer.ranker;

import java.util.Objects;

/**
 * What a {@link RankService} accepts and how it reads a request.
 *
 * @param maxCandidates the most candidates one request may carry
 * @param userColumn the raw column the request's {@code user_id} is passed under
 * @param itemColumn the raw column each candidate's {@code item_id} is passed under
 * @param formula how task probabilities combine into the score (of the single arm a model is served as)
 */
record RankOptions(int maxCandidates, String userColumn, String itemColumn, ProbabilityCombiner formula) {
  static final RankOptions DEFAULTS = new RankOptions(1000, "user_id", "item_id", ProbabilityCombiner.MEAN);

  RankOptions {
    if (maxCandidates < 1) {
      throw new IllegalArgumentException("maxCandidates must be positive, got " + maxCandidates);
    }
    Objects.requireNonNull(userColumn, "userColumn");
    Objects.requireNonNull(itemColumn, "itemColumn");
    Objects.requireNonNull(formula, "formula");
  }

  RankOptions withMaxCandidates(int n) {
    return new RankOptions(n, userColumn, itemColumn, formula);
  }

  RankOptions withColumns(String user, String item) {
    return new RankOptions(maxCandidates, user, item, formula);
  }

  RankOptions withFormula(ProbabilityCombiner f) {
    return new RankOptions(maxCandidates, userColumn, itemColumn, f);
  }
}
