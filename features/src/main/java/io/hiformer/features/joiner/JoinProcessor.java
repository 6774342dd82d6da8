package io.hiformer.features.joiner;

import io.hiformer.features.joiner.Rejected.Reason;
import io.hiformer.proto.LoggedCandidate;
import io.hiformer.proto.Outcome;
import io.hiformer.proto.RankLogEntry;
import io.hiformer.proto.TaskScore;
import io.hiformer.proto.TrainingExample;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.common.header.internals.RecordHeaders;
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
 *   <li>{@value #WAITING}: request id to the outcomes that arrived before its rank-log entry
 *       ({@link Waiting}), until the entry arrives or {@code event time + window + grace}
 *   <li>{@value #DUE}: a time-ordered index, {@code time(19 digits) kind request}, where kind
 *       {@code c} closes an open request, {@code f} forgets a closed stub and {@code w} gives up
 *       on waiting outcomes whose time is up
 * </ul>
 *
 * Before each record, everything due by the current stream time is done, so what is joined
 * depends only on the records' event times and order, never on wall-clock time.
 */
final class JoinProcessor implements Processor<String, Object, String, Object> {
  static final String REQUESTS = "joiner-requests";
  static final String LABELS = "joiner-labels";
  static final String WAITING = "joiner-waiting";
  static final String DUE = "joiner-due";
  /** The sink nodes this processor forwards to. */
  static final String EXAMPLES = "examples";
  static final String DEAD_LETTERS = "dead-letters";
  private static final char CLOSE = 'c';
  private static final char FORGET = 'f';
  private static final char GIVE_UP = 'w';
  private static final int TIME_DIGITS = 19;

  private final long window;
  private final long grace;
  private final String outcomesTopic;
  private final int maxWaitingPerRequest;
  private final int maxWaiting;
  private final JoinerCounts counts;
  private ProcessorContext<String, Object> context;
  private KeyValueStore<String, RankLogEntry> requests;
  private KeyValueStore<String, Float> labels;
  private KeyValueStore<String, byte[]> waiting;
  private KeyValueStore<String, String> due;
  /** The earliest time in {@link #due}; {@code Long.MAX_VALUE} when it is empty. */
  private long nextDue;
  /** Outcomes in {@link #waiting}, this task's. */
  private long waitingCount;

  JoinProcessor(ExampleJoiner.Options options, JoinerCounts counts) {
    this.window = options.window().toMillis();
    this.grace = options.grace().toMillis();
    this.outcomesTopic = options.topics().outcomes();
    this.maxWaitingPerRequest = options.maxWaitingPerRequest();
    this.maxWaiting = options.maxWaiting();
    this.counts = counts;
  }

  @Override
  public void init(ProcessorContext<String, Object> context) {
    this.context = context;
    this.requests = context.getStateStore(REQUESTS);
    this.labels = context.getStateStore(LABELS);
    this.waiting = context.getStateStore(WAITING);
    this.due = context.getStateStore(DUE);
    this.nextDue = firstDue();
    try (KeyValueIterator<String, byte[]> it = waiting.all()) {
      it.forEachRemaining(kv -> waitingCount += Waiting.decode(kv.value).size());
    }
    counts.waiting.add(waitingCount);
  }

  @Override
  public void close() {
    // The task leaves this instance (or stops): its waiting outcomes are no longer counted here.
    counts.waiting.add(-waitingCount);
    waitingCount = 0;
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
    RankLogEntry open = entry.toBuilder().clearCandidates().addAllCandidates(returned).build();
    requests.put(id, open);
    schedule(closeAt, CLOSE, id);
    counts.requests.increment();
    List<Waiting> early = Waiting.decode(waiting.delete(id));
    for (Waiting w : early) {
      Rejected rejected = join(open, w.outcome());
      if (rejected != null) {
        deadLetter(w, rejected);
      }
    }
    uncount(early.size());
  }

  private void outcome(String key, Outcome o) {
    validate(key, o);
    RankLogEntry entry = requests.get(o.getRequestId());
    if (entry == null) {
      await(o);
      return;
    }
    Rejected rejected = join(entry, o);
    if (rejected != null) {
      throw rejected;
    }
  }

  /** Labels {@code entry}'s candidate with outcome {@code o}; what rejects it, or null. */
  private Rejected join(RankLogEntry entry, Outcome o) {
    String id = entry.getRequestId();
    long windowEnd = entry.getServedTimeMs() + window;
    if (o.getEventTimeMs() > windowEnd) {
      return reject(Reason.AFTER_WINDOW, "outcome at " + o.getEventTimeMs() + " is after the attribution window"
          + " of request '" + id + "' (served at " + entry.getServedTimeMs() + ", window " + window + " ms)");
    }
    if (entry.getCandidatesCount() == 0) {
      return reject(Reason.LATE, "outcome for request '" + id + "' arrived at stream time "
          + context.currentStreamTimeMs() + ", after its examples were emitted at " + (windowEnd + grace));
    }
    if (entry.getCandidatesList().stream().noneMatch(c -> c.getItemId().equals(o.getItemId()))) {
      return reject(Reason.UNKNOWN_ITEM, "item '" + o.getItemId() + "' is not among the "
          + entry.getCandidatesCount() + " candidates returned for request '" + id + "'");
    }
    List<TaskScore> tasks = entry.getCandidates(0).getTaskScoresList();
    if (tasks.stream().noneMatch(t -> t.getTask().equals(o.getTask()))) {
      return reject(Reason.UNKNOWN_TASK, "task '" + o.getTask() + "' is not a task of " + entry.getModelName()
          + " v" + entry.getModelVersion() + " " + tasks.stream().map(TaskScore::getTask).toList());
    }
    String label = labelKey(id, o.getItemId(), o.getTask());
    Float seen = labels.get(label);
    if (seen == null || o.getValue() > seen) {
      labels.put(label, o.getValue());
    }
    counts.outcomes.increment();
    return null;
  }

  /**
   * An outcome whose request has no rank-log entry yet waits for it: any entry it can belong to
   * was served at most {@code window} before the outcome, so the entry arrives (or is itself too
   * late) before stream time passes {@code event time + window + grace}.
   */
  private void await(Outcome o) {
    String id = o.getRequestId();
    long giveUpAt = o.getEventTimeMs() + window + grace;
    long now = context.currentStreamTimeMs();
    if (giveUpAt <= now) {
      throw reject(Reason.UNKNOWN_REQUEST, unknown(id, o, now));
    }
    List<Waiting> early = Waiting.decode(waiting.get(id));
    if (early.size() >= maxWaitingPerRequest) {
      throw reject(Reason.WAITING_FULL, "request '" + id + "' already has " + early.size()
          + " outcomes waiting for its rank-log entry, the most one request may have");
    }
    if (waitingCount >= maxWaiting) {
      throw reject(Reason.WAITING_FULL, "partition " + context.taskId().partition() + " already has " + waitingCount
          + " outcomes waiting for rank-log entries, the most one partition may have");
    }
    early.add(new Waiting(context.recordMetadata().map(m -> m.offset()).orElse(-1L), o));
    waiting.put(id, Waiting.encode(early));
    waitingCount++;
    counts.waiting.increment();
    schedule(giveUpAt, GIVE_UP, id);
  }

  private String unknown(String id, Outcome o, long now) {
    return "no rank-log entry for request '" + id + "' came by stream time " + now + " (outcome at "
        + o.getEventTimeMs() + " + window " + window + " ms + grace " + grace + " ms): never served,"
        + " its entry lost, or the request closed long ago";
  }

  /** Dead-letters the waiting outcomes of {@code id} whose time is up at {@code now}. */
  private void giveUp(String id, long now) {
    List<Waiting> early = Waiting.decode(waiting.get(id));
    List<Waiting> still = new ArrayList<>(early.size());
    for (Waiting w : early) {
      if (w.outcome().getEventTimeMs() + window + grace <= now) {
        deadLetter(w, reject(Reason.UNKNOWN_REQUEST, unknown(id, w.outcome(), now)));
      } else {
        still.add(w);
      }
    }
    if (still.isEmpty()) {
      waiting.delete(id);
    } else if (still.size() < early.size()) {
      waiting.put(id, Waiting.encode(still));
    }
    uncount(early.size() - still.size());
  }

  private void uncount(int outcomes) {
    waitingCount -= outcomes;
    counts.waiting.add(-outcomes);
  }

  /**
   * Sends a waiting outcome, rejected after its own record was processed, to the dead-letter topic
   * as Kafka Streams' dead-letter records look (see {@link RejectedRecordHandler}).
   */
  private void deadLetter(Waiting w, Rejected rejected) {
    RecordHeaders headers = new RecordHeaders();
    headers.add("__streams.errors.exception", utf8(Rejected.class.getName()));
    headers.add("__streams.errors.message", utf8(rejected.getMessage()));
    headers.add("__streams.errors.topic", utf8(outcomesTopic));
    headers.add("__streams.errors.partition", utf8(Integer.toString(context.taskId().partition())));
    headers.add("__streams.errors.offset", utf8(Long.toString(w.offset())));
    context.forward(new Record<>(w.outcome().getRequestId(), w.outcome().toByteArray(),
        w.outcome().getEventTimeMs(), headers), DEAD_LETTERS);
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  /** Closes (emits), forgets and gives up on everything due by {@code now}. */
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
      switch (key.charAt(TIME_DIGITS)) {
        case CLOSE -> close(id);
        case FORGET -> requests.delete(id);
        default -> giveUp(id, now);
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
      context.forward(new Record<>(id, x.build(), context.currentSystemTimeMs()), EXAMPLES);
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
