package io.hiformer.ranker;

import io.hiformer.features.ranklog.RankLogEntries;
import io.hiformer.features.ranklog.RankLogWriter;
import io.hiformer.model.Batch;
import io.hiformer.proto.RankRequest;

/**
 * Turns each answered Rank call into a {@link RankLogEntry} (every candidate in request order with
 * the exact model inputs it was scored from, its task probabilities, score and position) and hands
 * it to a {@link RankLogWriter}, which never blocks. Runs on the call's thread: it writes the
 * entry's bytes straight from the reused buffers ({@link RankLogEntries#encode}), no object per candidate.
 */
final class RankLog implements RankService.ScoredListener {
  private final RankLogWriter writer;

  RankLog(RankLogWriter writer) {
    this.writer = writer;
  }

  @Override
  public void scored(RankRequest request, String requestId, ServedArm arm, Batch inputs,
      float[] probabilities, float[] scores, CallBuffers order, int returned) {
    LoadedModel model = arm.model();
    int[] positions = new int[request.getCandidatesCount()];
    for (int p = 0; p < positions.length; p++) {
      positions[order.index(p)] = p;
    }
    long now = System.currentTimeMillis();
    writer.offer(requestId, now, RankLogEntries.encode(request, requestId, new RankLogEntries.Served(model.name(),
        model.version(), arm.name(), model.parameters().config(), now), inputs, probabilities, scores, positions,
        returned));
  }
}
