package io.hiformer.training;

import java.io.PrintStream;

/**
 * Progress of one pass over data (fitting, caching, an epoch, an evaluation): count, throughput
 * and, when the total is known, a bar and the time left. On a terminal it redraws one line at
 * most five times a second; otherwise it prints a plain line at most once a minute, so logs of
 * long runs show how far they are without filling up. {@link #done} prints the final line.
 */
public final class PassProgress {
  private static final long TERMINAL_EVERY = 200_000_000L;
  private static final long LOG_EVERY = 60_000_000_000L;
  private final PrintStream out;
  private final boolean terminal;
  private final String name;
  private final String unit;
  private final long total;
  private final long start = System.nanoTime();
  private long lastDraw = start;
  private long done;

  /** {@code total} may be -1 (unknown): then no bar and no time left. */
  public PassProgress(PrintStream out, boolean terminal, String name, String unit, long total) {
    this.out = out;
    this.terminal = terminal;
    this.name = name;
    this.unit = unit;
    this.total = total;
  }

  /** Counts {@code n} more items; draws now and then. */
  public void advance(long n) {
    done += n;
    long now = System.nanoTime();
    if (now - lastDraw >= (terminal ? TERMINAL_EVERY : LOG_EVERY)) {
      lastDraw = now;
      if (terminal) {
        out.print("\r" + line(now) + " ");
        out.flush();
      } else {
        out.println(line(now));
      }
    }
  }

  /** Items counted so far. */
  public long count() {
    return done;
  }

  /** Seconds since the pass started. */
  public double seconds() {
    return (System.nanoTime() - start) / 1e9;
  }

  /** Clears the bar on a terminal (so the caller's summary line replaces it). */
  public void clear() {
    if (terminal) {
      out.print("\r" + " ".repeat(100) + "\r");
      out.flush();
    }
  }

  /** Ends the pass with a line of its count, time and throughput; returns the throughput. */
  public double done() {
    clear();
    double s = seconds();
    double rate = done / Math.max(s, 1e-9);
    out.printf("%s: %,d %s in %.1f s (%,.0f %s/s)%n", name, done, unit, s, rate, unit);
    return rate;
  }

  String line(long now) {
    double s = (now - start) / 1e9;
    double rate = done / Math.max(s, 1e-9);
    if (total <= 0) {
      return String.format("%s %,d %s  %,.0f %s/s  %s", name, done, unit, rate, unit, clock(s));
    }
    int width = 30;
    int filled = (int) Math.min(width, (long) width * done / total);
    long left = rate > 0 ? (long) ((total - done) / rate) : -1;
    return String.format("%s [%s%s] %3d%%  %,d/%,d %s  %,.0f %s/s  ETA %s", name, "=".repeat(filled),
        " ".repeat(width - filled), Math.min(100, 100 * done / total), done, total, unit, rate, unit,
        left < 0 ? "--" : clock(left));
  }

  private static String clock(double seconds) {
    long s = (long) seconds;
    return s >= 3600 ? String.format("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
        : String.format("%d:%02d", s / 60, s % 60);
  }
}
