package io.hiformer.ranker;

import io.hiformer.features.ranklog.RankLogEntries;
import io.hiformer.features.ranklog.RankLogWriter;
import io.hiformer.model.Batch;
import io.hiformer.model.ModelConfig;
import io.hiformer.proto.LoggedCandidate;
import io.hiformer.proto.RankLogEntry;
import io.hiformer.proto.RankRequest;
import io.hiformer.proto.TaskScore;
import java.util.List;

/**
 * Turns each answered Rank call into a {@link RankLogEntry} (every candidate in request order with
 * the exact model inputs it was scored from, its task probabilities, score and position) and hands
 * it to a {@link RankLogWriter}, which never blocks. Runs on the call's thread: it copies what it
 * needs out of the reused buffers.
 */
final class RankLog implements RankService.ScoredListener {
  private final RankLogWriter writer;

  RankLog(RankLogWriter writer) {
    this.writer = writer;
  }

  @Override
  public void scored(RankRequest request, String requestId, RankService.ServedArm arm, Batch inputs,
      float[] probabilities, float[] scores, Scratch order, int returned) {
    LoadedModel model = arm.model();
    ModelConfig config = model.parameters().config();
    List<String> tasks = config.tasks();
    int n = request.getCandidatesCount();
    int[] position = new int[n];
    for (int p = 0; p < n; p++) {
      position[order.index(p)] = p;
    }
    RankLogEntry.Builder entry = RankLogEntry.newBuilder()
        .setRequestId(requestId)
        .setUserId(request.getUserId())
        .setUnitId(request.getUnitId().isEmpty() ? request.getUserId() : request.getUnitId())
        .putAllContext(request.getContextMap())
        .setReturnedCount(returned)
        .setModelName(model.name())
        .setModelVersion(model.version())
        .setArm(arm.name())
        .setServedTimeMs(System.currentTimeMillis());
    for (int i = 0; i < n; i++) {
      LoggedCandidate.Builder c = entry.addCandidatesBuilder()
          .setItemId(request.getCandidates(i).getItemId())
          .setInputs(RankLogEntries.inputs(config, inputs, i))
          .setScore(scores[i])
          .setPosition(position[i]);
      for (int t = 0; t < tasks.size(); t++) {
        c.addTaskScores(TaskScore.newBuilder().setTask(tasks.get(t)).setProbability(probabilities[i * tasks.size() + t]));
      }
    }
    writer.offer(entry.build());
  }
}
