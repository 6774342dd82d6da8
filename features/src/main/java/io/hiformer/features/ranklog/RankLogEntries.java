package io.hiformer.features.ranklog;

import io.hiformer.model.Batch;
import io.hiformer.model.ModelConfig;
import io.hiformer.proto.ModelInputs;

/** Building rank-log content from what the model scored. */
public final class RankLogEntries {
  private RankLogEntries() {}

  /**
   * Row {@code b} of {@code batch} (built for {@code config}) as logged {@link ModelInputs}: the
   * exact ids and values the model saw, which {@code ExampleRows} turns back into the same row.
   */
  public static ModelInputs inputs(ModelConfig config, Batch batch, int b) {
    ModelInputs.Builder in = ModelInputs.newBuilder();
    int categorical = config.categoricalFields().size();
    for (int c = 0; c < categorical; c++) {
      in.addCategoricalIds(batch.categorical(b, c));
    }
    int bags = config.bagFields().size();
    if (bags > 0) {
      in.addBagOffsets(0);
      for (int k = 0; k < bags; k++) {
        for (int p = batch.bagStart(b, k); p < batch.bagEnd(b, k); p++) {
          in.addBagIds(batch.bagId(p));
        }
        in.addBagOffsets(in.getBagIdsCount());
      }
    }
    for (int d = 0; d < config.numDense(); d++) {
      in.addDense(batch.dense(b, d));
    }
    return in.build();
  }
}
