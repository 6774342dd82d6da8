package io.hiformer.ranker;

import java.util.Objects;

/**
 * What a {@link RankService} accepts and how it reads a request.
 *
 * @param maxCandidates the most candidates one request may carry
 * @param userColumn the raw column the request's {@code user_id} is passed under
 * @param itemColumn the raw column each candidate's {@code item_id} is passed under
 * @param formula how task probabilities combine into the score (of the single arm a model is served as)
 * @param itemCacheRows about the most item rows each model version keeps transformed ({@link ItemRowCache}); 0: none
 */
record RankOptions(int maxCandidates, String userColumn, String itemColumn, ProbabilityCombiner formula,
    int itemCacheRows) {
  static final RankOptions DEFAULTS = new RankOptions(1000, "user_id", "item_id", ProbabilityCombiner.MEAN,
      ItemRowCache.DEFAULT_MAX_ROWS);

  RankOptions {
    if (maxCandidates < 1) {
      throw new IllegalArgumentException("maxCandidates must be positive, got " + maxCandidates);
    }
    Objects.requireNonNull(userColumn, "userColumn");
    Objects.requireNonNull(itemColumn, "itemColumn");
    Objects.requireNonNull(formula, "formula");
    if (itemCacheRows != 0 && itemCacheRows < 2) {
      throw new IllegalArgumentException("itemCacheRows must be 0 (no cache) or at least 2, got " + itemCacheRows);
    }
  }

  RankOptions withMaxCandidates(int n) {
    return new RankOptions(n, userColumn, itemColumn, formula, itemCacheRows);
  }

  RankOptions withColumns(String user, String item) {
    return new RankOptions(maxCandidates, user, item, formula, itemCacheRows);
  }

  RankOptions withFormula(ProbabilityCombiner f) {
    return new RankOptions(maxCandidates, userColumn, itemColumn, f, itemCacheRows);
  }

  RankOptions withItemCacheRows(int rows) {
    return new RankOptions(maxCandidates, userColumn, itemColumn, formula, rows);
  }
}
