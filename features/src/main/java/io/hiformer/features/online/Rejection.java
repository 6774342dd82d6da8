package io.hiformer.features.online;

import java.util.Locale;

/**
 * Why a feature record was not applied: a {@link Reason} (a small fixed set, a metric tag) and a
 * message naming the offending part, e.g. {@code unknown field 'agee' for a user}.
 */
public record Rejection(Reason reason, String message) {

  /** The kinds of malformed records. */
  public enum Reason {
    /** The value is not a FeatureUpdate protobuf. */
    UNPARSABLE,
    /** The record key is missing or differs from entity_id. */
    KEY_MISMATCH,
    /** entity_kind is unset or names the other topic's kind. */
    WRONG_ENTITY_KIND,
    /** entity_id is empty. */
    MISSING_ENTITY_ID,
    /** event_time_ms is not positive. */
    BAD_EVENT_TIME,
    /** A field or delete names a column the store schema does not hold for this kind. */
    UNKNOWN_FIELD,
    /** A value's kind does not fit the field (e.g. text for a dense field). */
    WRONG_TYPE,
    /** A dense value is not a finite float: NaN, infinite, or beyond the float range (1e39). */
    NOT_FINITE,
    /** A column is both set and deleted by the same update. */
    CONFLICTING_DELETE,
    /** Applying the update failed unexpectedly; the message holds the exception. */
    INTERNAL;

    /** The lower-case name used in metric tags and the dead-letter header. */
    public String tag() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  @Override
  public String toString() {
    return reason.tag() + ": " + message;
  }
}
