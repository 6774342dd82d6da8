package io.hiformer.features.joiner;

import io.hiformer.proto.LoggedCandidate;
import io.hiformer.proto.ModelInputs;
import io.hiformer.proto.Outcome;
import io.hiformer.proto.RankLogEntry;
import io.hiformer.proto.TaskScore;
import io.hiformer.proto.TrainingExample;
import java.util.List;

/**
 * Rank-log entries and outcomes for joiner tests, at times relative to {@link #T0}: now, since
 * records keep their event times and the broker deletes records older than its retention.
 */
final class Script {
  static final long T0 = System.currentTimeMillis() / 1000 * 1000;
  static final List<String> TASKS = List.of("click", "like");

  private Script() {}

  /**
   * Request {@code id} served at {@code T0 + at} with {@code items} in request order, ranked in
   * that order, the first {@code returned} of them returned to the client. Each candidate's
   * inputs are distinct ids so tests can tell them apart.
   */
  static RankLogEntry served(String id, long at, int returned, String... items) {
    RankLogEntry.Builder e = RankLogEntry.newBuilder()
        .setRequestId(id).setUserId("u-" + id).setUnitId("u-" + id)
        .setModelName("ctr").setModelVersion(3).setArm("default")
        .setServedTimeMs(T0 + at).setReturnedCount(returned);
    for (int i = 0; i < items.length; i++) {
      LoggedCandidate.Builder c = e.addCandidatesBuilder().setItemId(items[i]).setPosition(i)
          .setInputs(inputs(id, items[i])).setScore(1f - i * 0.1f);
      for (String task : TASKS) {
        c.addTaskScores(TaskScore.newBuilder().setTask(task).setProbability(0.5f));
      }
    }
    return e.build();
  }

  static ModelInputs inputs(String request, String item) {
    return ModelInputs.newBuilder().addCategoricalIds(Math.floorMod(request.hashCode(), 1000))
        .addCategoricalIds(Math.floorMod(item.hashCode(), 1000)).addDense(0.25f).build();
  }

  static Outcome outcome(String request, String item, String task, float value, long at) {
    return Outcome.newBuilder().setRequestId(request).setItemId(item).setTask(task).setValue(value)
        .setEventTimeMs(T0 + at).build();
  }

  /** "request/item click=x like=y" for an example, to compare a run with the expected set. */
  static String describe(TrainingExample e) {
    StringBuilder s = new StringBuilder(e.getRequestId() + "/" + e.getItemId());
    for (int t = 0; t < TASKS.size(); t++) {
      s.append(' ').append(TASKS.get(t)).append('=').append(e.getLabels(t)).append(e.getLabelMask(t) ? "" : "?");
    }
    return s.toString();
  }
}
