package io.hiformer.features.joiner;

import io.hiformer.features.joiner.Rejected.Reason;
import io.hiformer.proto.LoggedCandidate;
import io.hiformer.proto.Outcome;
import io.hiformer.proto.RankLogEntry;
import io.hiformer.proto.TaskScore;
import io.hiformer.proto.TrainingExample;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * Joins one partition's rank-log entries and outcomes (both keyed by request id) into training
 * examples; see {@link ExampleJoiner} for the rules. State, all changelogged:
 *
 * <ul>
 *   <li>{@value #REQUESTS}: request id to its rank-log entry, cut to the candidates returned to
 *       the client; once closed, a stub without candidates (to tell late outcomes from unknown ones)
 *   <li>{@value #LABELS}: {@code request \0 item \0 task} to the largest outcome value seen
 *   <li>{@value #DUE}: a time-ordered index, {@code time(19 digits) kind request}, where kind
 *       {@code c} closes an open request and {@code f} forgets a closed stub
 * </ul>
 *
 * Before each record, every request due by the current stream time is closed, so what is joined
 * depends only on the records' event times and order, never on wall-clock time.
 */
final class JoinProcessor implements Processor<String, Object, String, TrainingExample> {
  static final String REQUESTS = "joiner-requests";
  static final String LABELS = "joiner-labels";
  static final String DUE = "joiner-due";
  private static final char CLOSE = 'c';
  private static final char FORGET = 'f';
  private static final int TIME_DIGITS = 19;

  private final long window;
  private final long grace;
  private final JoinerCounts counts;
  private ProcessorContext<String, TrainingExample> context;
  private KeyValueStore<String, RankLogEntry> requests;
  private KeyValueStore<String, Float> labels;
  private KeyValueStore<String, String> due;
  /** The earliest time in {@link #due}; {@code Long.MAX_VALUE} when it is empty. */
  private long nextDue;

  JoinProcessor(long windowMs, long graceMs, JoinerCounts counts) {
    this.window = windowMs;
    this.grace = graceMs;
    this.counts = counts;
  }

  @Override
  public void init(ProcessorContext<String, TrainingExample> context) {
    this.context = context;
    this.requests = context.getStateStore(REQUESTS);
    this.labels = context.getStateStore(LABELS);
    this.due = context.getStateStore(DUE);
    this.nextDue = firstDue();
  }

  @Override
  public void process(Record<String, Object> record) {
    closeDue(context.currentStreamTimeMs());
    long ahead = EventTime.of(record.value()) - context.currentSystemTimeMs();
    if (ahead > EventTime.MAX_AHEAD_MS) {
      throw reject(Reason.INVALID, "record of " + record.key() + " is stamped " + ahead + " ms ahead of the clock;"
          + " at most " + EventTime.MAX_AHEAD_MS + " ms are taken as clock skew");
    }
    switch (record.value()) {
      case RankLogEntry entry -> served(record.key(), entry);
      case Outcome outcome -> outcome(record.key(), outcome);
      case null, default -> throw reject(Reason.INVALID, "record of " + record.key() + " has no value");
    }
  }

  private void served(String key, RankLogEntry entry) {
    validate(key, entry);
    String id = entry.getRequestId();
    if (requests.get(id) != null) {
      throw reject(Reason.DUPLICATE, "request '" + id + "' is already in the join state");
    }
    long closeAt = entry.getServedTimeMs() + window + grace;
    long now = context.currentStreamTimeMs();
    if (closeAt <= now) {
      throw reject(Reason.LATE_RANK_LOG, "request '" + id + "' served at " + entry.getServedTimeMs()
          + " arrived at stream time " + now + ", after its window closed at " + closeAt);
    }
    List<LoggedCandidate> returned = new ArrayList<>(entry.getReturnedCount());
    for (LoggedCandidate c : entry.getCandidatesList()) {
      if (c.getPosition() < entry.getReturnedCount()) {
        returned.add(c);
      }
    }
    requests.put(id, entry.toBuilder().clearCandidates().addAllCandidates(returned).build());
    schedule(closeAt, CLOSE, id);
    counts.requests.increment();
  }

  private void outcome(String key, Outcome o) {
    validate(key, o);
    String id = o.getRequestId();
    RankLogEntry entry = requests.get(id);
    if (entry == null) {
      throw reject(Reason.UNKNOWN_REQUEST, "no request '" + id + "' in the join state: the rank log has no entry"
          + " for it yet, or it closed more than " + (window + grace) + " ms ago");
    }
    long windowEnd = entry.getServedTimeMs() + window;
    if (o.getEventTimeMs() > windowEnd) {
      throw reject(Reason.AFTER_WINDOW, "outcome at " + o.getEventTimeMs() + " is after the attribution window"
          + " of request '" + id + "' (served at " + entry.getServedTimeMs() + ", window " + window + " ms)");
    }
    if (entry.getCandidatesCount() == 0) {
      throw reject(Reason.LATE, "outcome for request '" + id + "' arrived at stream time "
          + context.currentStreamTimeMs() + ", after its examples were emitted at " + (windowEnd + grace));
    }
    if (entry.getCandidatesList().stream().noneMatch(c -> c.getItemId().equals(o.getItemId()))) {
      throw reject(Reason.UNKNOWN_ITEM, "item '" + o.getItemId() + "' is not among the "
          + entry.getCandidatesCount() + " candidates returned for request '" + id + "'");
    }
    List<TaskScore> tasks = entry.getCandidates(0).getTaskScoresList();
    if (tasks.stream().noneMatch(t -> t.getTask().equals(o.getTask()))) {
      throw reject(Reason.UNKNOWN_TASK, "task '" + o.getTask() + "' is not a task of " + entry.getModelName()
          + " v" + entry.getModelVersion() + " " + tasks.stream().map(TaskScore::getTask).toList());
    }
    String label = labelKey(id, o.getItemId(), o.getTask());
    Float seen = labels.get(label);
    if (seen == null || o.getValue() > seen) {
      labels.put(label, o.getValue());
    }
    counts.outcomes.increment();
  }

  /** Closes (emits) and forgets every request due by {@code now}. */
  private void closeDue(long now) {
    if (now < nextDue) {
      return;
    }
    List<String> keys = new ArrayList<>();
    try (KeyValueIterator<String, String> it = due.range(time(0), time(now + 1))) {
      it.forEachRemaining(kv -> keys.add(kv.key));
    }
    for (String key : keys) {
      String id = key.substring(TIME_DIGITS + 1);
      if (key.charAt(TIME_DIGITS) == CLOSE) {
        close(id);
      } else {
        requests.delete(id);
      }
      due.delete(key);
    }
    nextDue = firstDue();
  }

  private void close(String id) {
    RankLogEntry entry = requests.get(id);
    List<TaskScore> tasks = entry.getCandidates(0).getTaskScoresList();
    for (LoggedCandidate c : entry.getCandidatesList()) {
      TrainingExample.Builder x = TrainingExample.newBuilder()
          .setInputs(c.getInputs())
          .setRequestId(id)
          .setUserId(entry.getUserId())
          .setItemId(c.getItemId())
          .setModelName(entry.getModelName())
          .setModelVersion(entry.getModelVersion())
          .setArm(entry.getArm())
          .setPosition(c.getPosition())
          .setServedTimeMs(entry.getServedTimeMs());
      boolean positive = false;
      for (TaskScore t : tasks) {
        String label = labelKey(id, c.getItemId(), t.getTask());
        Float y = labels.delete(label);
        // The window closed: a task without an outcome is a known 0 (a negative).
        x.addLabels(y == null ? 0f : y).addLabelMask(true);
        positive |= y != null && y > 0f;
      }
      // Stamped with the time it was written, not served: time bounds on the examples topic then
      // select by when examples became available, and retention counts from there.
      context.forward(new Record<>(id, x.build(), context.currentSystemTimeMs()));
      counts.examples.increment();
      if (positive) {
        counts.positives.increment();
      }
    }
    requests.put(id, RankLogEntry.newBuilder().setRequestId(id).setServedTimeMs(entry.getServedTimeMs()).build());
    schedule(entry.getServedTimeMs() + 2 * (window + grace), FORGET, id);
    counts.closed.increment();
  }

  private void schedule(long time, char kind, String id) {
    due.put(time(time) + kind + id, id);
    nextDue = Math.min(nextDue, time);
  }

  private long firstDue() {
    try (KeyValueIterator<String, String> it = due.all()) {
      if (!it.hasNext()) {
        return Long.MAX_VALUE;
      }
      KeyValue<String, String> first = it.next();
      return Long.parseLong(first.key.substring(0, TIME_DIGITS));
    }
  }

  private static String time(long ms) {
    String digits = Long.toString(ms);
    return "0".repeat(TIME_DIGITS - digits.length()) + digits;
  }

  private static String labelKey(String request, String item, String task) {
    return request + '\0' + item + '\0' + task;
  }

  private void validate(String key, RankLogEntry e) {
    String id = e.getRequestId();
    require(!id.isEmpty(), "rank-log entry has no request_id");
    require(id.equals(key), "rank-log entry of request '" + id + "' is keyed '" + key
        + "'; records must be keyed by request id so that a request's rank log and outcomes meet");
    require(e.getServedTimeMs() > 0, "rank-log entry of request '" + id + "' has no served_time_ms");
    require(!e.getModelName().isEmpty() && e.getModelVersion() > 0,
        "rank-log entry of request '" + id + "' does not name its model and a positive version");
    require(e.getCandidatesCount() > 0, "rank-log entry of request '" + id + "' has no candidates");
    require(e.getReturnedCount() > 0 && e.getReturnedCount() <= e.getCandidatesCount(),
        "rank-log entry of request '" + id + "' has returned_count " + e.getReturnedCount() + " for "
            + e.getCandidatesCount() + " candidates");
    List<String> tasks = e.getCandidates(0).getTaskScoresList().stream().map(TaskScore::getTask).toList();
    require(!tasks.isEmpty(), "rank-log entry of request '" + id + "' has no task scores");
    boolean[] positions = new boolean[e.getCandidatesCount()];
    for (int i = 0; i < e.getCandidatesCount(); i++) {
      LoggedCandidate c = e.getCandidates(i);
      String where = "rank-log entry of request '" + id + "' candidates[" + i + "]";
      require(!c.getItemId().isEmpty(), where + " has no item_id");
      require(c.hasInputs(), where + " has no inputs");
      require(c.getTaskScoresList().stream().map(TaskScore::getTask).toList().equals(tasks),
          where + " scores tasks " + c.getTaskScoresList().stream().map(TaskScore::getTask).toList()
              + ", candidates[0] " + tasks);
      require(c.getPosition() < positions.length && !positions[c.getPosition()],
          where + " has position " + c.getPosition() + ", not a free one in [0, " + positions.length + ")");
      positions[c.getPosition()] = true;
    }
  }

  private void validate(String key, Outcome o) {
    String id = o.getRequestId();
    require(!id.isEmpty(), "outcome has no request_id");
    require(id.equals(key), "outcome of request '" + id + "' is keyed '" + key
        + "'; records must be keyed by request id so that a request's rank log and outcomes meet");
    require(!o.getItemId().isEmpty(), "outcome of request '" + id + "' has no item_id");
    require(!o.getTask().isEmpty(), "outcome of request '" + id + "' has no task");
    require(o.getValue() >= 0f && o.getValue() <= 1f,
        "outcome of request '" + id + "' has value " + o.getValue() + ", outside [0, 1]");
    require(o.getEventTimeMs() > 0, "outcome of request '" + id + "' has no event_time_ms");
  }

  private void require(boolean ok, String message) {
    if (!ok) {
      throw reject(Reason.INVALID, message);
    }
  }

  private Rejected reject(Reason reason, String message) {
    counts.rejected(reason);
    return new Rejected(reason, message);
  }
}
