package io.hiformer.features.joiner;

/**
 * A rank-log entry or outcome the joiner cannot use. Thrown by the join processor; {@link
 * RejectedRecordHandler} sends the source record to the dead-letter topic with the message (which
 * starts with the reason's {@link Reason#code()}) in the {@code __streams.errors.message} header.
 */
final class Rejected extends RuntimeException {
  /** Why a record was not joined. */
  enum Reason {
    /** Not a valid rank-log entry or outcome (missing ids, times, labels out of range, wrong key). */
    INVALID("invalid"),
    /** A second rank-log entry for a request id already in the join state. */
    DUPLICATE("duplicate"),
    /** A rank-log entry whose window had already closed when it arrived. */
    LATE_RANK_LOG("late-rank-log"),
    /**
     * An outcome whose request's rank-log entry did not come by stream time {@code event time +
     * window + grace} (never served, entry lost, or closed long ago).
     */
    UNKNOWN_REQUEST("unknown-request"),
    /** An outcome that would wait for its rank-log entry, but its request or partition has the most allowed. */
    WAITING_FULL("waiting-full"),
    /** An outcome that happened after its request's attribution window. */
    AFTER_WINDOW("after-window"),
    /** An outcome that arrived after its request's examples were emitted. */
    LATE("late"),
    /** An outcome for an item that was not returned to the client in that request. */
    UNKNOWN_ITEM("unknown-item"),
    /** An outcome for a task the serving model does not have. */
    UNKNOWN_TASK("unknown-task");

    private final String code;

    Reason(String code) {
      this.code = code;
    }

    String code() {
      return code;
    }
  }

  final Reason reason;

  Rejected(Reason reason, String message) {
    super(reason.code() + ": " + message, null, false, false);
    this.reason = reason;
  }
}
