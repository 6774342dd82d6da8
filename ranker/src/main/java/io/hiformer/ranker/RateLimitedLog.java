package io.hiformer.ranker;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * One warning line per interval at most, for events a client can cause on every call: the line
 * says how many like it were not logged since the last one. Thread-safe; builds no message when
 * it does not log.
 */
final class RateLimitedLog {
  private final System.Logger log;
  private final long intervalNanos;
  private final AtomicLong next;
  private final AtomicLong suppressed = new AtomicLong();

  RateLimitedLog(System.Logger log, Duration interval) {
    this.log = log;
    this.intervalNanos = interval.toNanos();
    this.next = new AtomicLong(System.nanoTime());
  }

  void warn(Supplier<String> message) {
    long now = System.nanoTime();
    long due = next.get();
    if (now - due >= 0 && next.compareAndSet(due, now + intervalNanos)) {
      long more = suppressed.getAndSet(0);
      log.log(System.Logger.Level.WARNING, more == 0 ? message.get()
          : message.get() + " (and " + more + " more like it since the last such line)");
    } else {
      suppressed.incrementAndGet();
    }
  }
}
