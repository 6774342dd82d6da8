package io.hiformer.features.ranklog;

import io.hiformer.model.Batch;
import io.hiformer.model.ModelConfig;
import io.hiformer.proto.LoggedCandidate;
import io.hiformer.proto.ModelInputs;
import io.hiformer.proto.RankLogEntry;
import io.hiformer.proto.RankRequest;
import io.hiformer.proto.TaskScore;
import java.util.List;

/** Building rank-log content from what the model scored. */
public final class RankLogEntries {
  private RankLogEntries() {}

  /** Who answered a call: the model version and the experiment arm, and when. */
  public record Served(String model, long version, String arm, ModelConfig config, long timeMs) {}

  /**
   * The rank-log entry of one answered call: every candidate of {@code request} in request order
   * with its row of {@code inputs}, its task probabilities ({@code probabilities[i * tasks + t]}),
   * score and {@code positions[i]}; the first {@code returned} positions were answered.
   */
  public static RankLogEntry entry(RankRequest request, String requestId, Served served, Batch inputs,
      float[] probabilities, float[] scores, int[] positions, int returned) {
    ModelConfig config = served.config();
    List<String> tasks = config.tasks();
    int categorical = config.categoricalFields().size();
    int bags = config.bagFields().size();
    int dense = config.numDense();
    RankLogEntry.Builder entry = RankLogEntry.newBuilder()
        .setRequestId(requestId)
        .setUserId(request.getUserId())
        .setUnitId(request.getUnitId().isEmpty() ? request.getUserId() : request.getUnitId())
        .putAllContext(request.getContextMap())
        .setReturnedCount(returned)
        .setModelName(served.model())
        .setModelVersion(served.version())
        .setArm(served.arm())
        .setServedTimeMs(served.timeMs());
    for (int i = 0; i < request.getCandidatesCount(); i++) {
      // Plain builders, not entry.addCandidatesBuilder(): nested builders track their parent and cost more.
      LoggedCandidate.Builder c = LoggedCandidate.newBuilder()
          .setItemId(request.getCandidates(i).getItemId())
          .setInputs(inputs(categorical, bags, dense, inputs, i))
          .setScore(scores[i])
          .setPosition(positions[i]);
      for (int t = 0; t < tasks.size(); t++) {
        c.addTaskScores(TaskScore.newBuilder().setTask(tasks.get(t)).setProbability(probabilities[i * tasks.size() + t]));
      }
      entry.addCandidates(c.build());
    }
    return entry.build();
  }

  /**
   * Row {@code b} of {@code batch} (built for {@code config}) as logged {@link ModelInputs}: the
   * exact ids and values the model saw, which {@code ExampleRows} turns back into the same row.
   */
  public static ModelInputs inputs(ModelConfig config, Batch batch, int b) {
    return inputs(config.categoricalFields().size(), config.bagFields().size(), config.numDense(), batch, b);
  }

  // The field counts come from the caller: ModelConfig computes its field lists on every call.
  private static ModelInputs inputs(int categorical, int bags, int dense, Batch batch, int b) {
    ModelInputs.Builder in = ModelInputs.newBuilder();
    for (int c = 0; c < categorical; c++) {
      in.addCategoricalIds(batch.categorical(b, c));
    }
    if (bags > 0) {
      in.addBagOffsets(0);
      for (int k = 0; k < bags; k++) {
        for (int p = batch.bagStart(b, k); p < batch.bagEnd(b, k); p++) {
          in.addBagIds(batch.bagId(p));
        }
        in.addBagOffsets(in.getBagIdsCount());
      }
    }
    for (int d = 0; d < dense; d++) {
      in.addDense(batch.dense(b, d));
    }
    return in.build();
  }
}
