package io.hiformer.ops;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.function.LongSupplier;
import java.util.logging.Filter;
import java.util.logging.LogRecord;

/**
 * Lets through one record of a kind per interval from the loggers it watches (Kafka's clients
 * log the same "connection could not be established" warning at every retry while a broker is
 * away); the next one let through says how many were held back. A kind is the logger, level and
 * message with its digits ignored (ports, node ids, counts differ between repeats).
 */
final class RepeatedLogFilter implements Filter {
  /** Kinds remembered at most; beyond, the memory starts over (each kind then passes once more). */
  private static final int MAX_KINDS = 1024;

  private final String[] prefixes;
  private final long intervalNanos;
  private final LongSupplier clock;
  private final Map<String, long[]> seen = new HashMap<>(); // kind -> {last let through, held back since}

  RepeatedLogFilter(Duration interval, LongSupplier nanoClock, String... loggerPrefixes) {
    this.intervalNanos = interval.toNanos();
    this.clock = nanoClock;
    this.prefixes = loggerPrefixes.clone();
  }

  @Override
  public synchronized boolean isLoggable(LogRecord r) {
    if (!watched(r.getLoggerName())) {
      return true;
    }
    String kind = r.getLoggerName() + '|' + r.getLevel() + '|'
        + (r.getMessage() == null ? "" : r.getMessage().replaceAll("[0-9]+", "#"));
    long now = clock.getAsLong();
    long[] state = seen.get(kind);
    if (state != null && now - state[0] < intervalNanos) {
      state[1]++;
      return false;
    }
    if (state == null) {
      if (seen.size() >= MAX_KINDS) {
        seen.clear();
      }
      seen.put(kind, new long[] {now, 0});
    } else {
      if (state[1] > 0) {
        r.setMessage(r.getMessage() + " (" + state[1] + " more like this in the last "
            + Duration.ofNanos(now - state[0]).toSeconds() + " s not logged)");
      }
      state[0] = now;
      state[1] = 0;
    }
    return true;
  }

  private boolean watched(String logger) {
    if (logger == null) {
      return false;
    }
    for (String p : prefixes) {
      if (logger.equals(p) || logger.startsWith(p + '.')) {
        return true;
      }
    }
    return false;
  }
}
