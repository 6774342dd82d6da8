package io.hiformer.ops.loadtest;

import io.grpc.Status;
import java.io.PrintStream;
import java.util.Comparator;
import java.util.Locale;
import org.HdrHistogram.Histogram;

/**
 * The figures of one run: rate, latency percentiles (all calls, and OK and shed apart when some
 * were shed) and counts by status, printed for people or written as JSON.
 */
public final class Report {
  /** How the load was made, e.g. "closed loop, concurrency 8". */
  private final String mode;
  /** What was measured: the server's address or the in-process model. */
  private final String target;
  private final int candidates;
  /** The measured window. */
  private final double seconds;
  private final Stats s;

  Report(String mode, String target, int candidates, double seconds, Stats s) {
    this.mode = mode;
    this.target = target;
    this.candidates = candidates;
    this.seconds = seconds;
    this.s = s;
  }

  /** Calls answered OK in the measured window. */
  public long succeeded() {
    return s.ok.sum();
  }
  private long completed() {
    return s.ok.sum() + s.exhausted.sum() + s.deadline.sum() + s.other.sum();
  }

  private double requestsPerSecond() {
    return completed() / seconds;
  }

  /** ": N of M calls answered STATUS" naming the most frequent status, or why none was answered. */
  public String failures() {
    long completed = completed();
    if (completed == 0) {
      return ": none was answered within the run (" + s.issued.sum() + " issued, " + s.dropped.sum() + " dropped)";
    }
    var dominant = s.codes.entrySet().stream().max(Comparator.comparingLong(e -> e.getValue().sum()))
        .orElseThrow();
    return ": " + dominant.getValue().sum() + " of " + completed + " calls answered " + dominant.getKey()
        + (dominant.getKey() == Status.Code.UNAVAILABLE ? " (is the server up at " + target + "?)" : "");
  }

  private double candidatesPerSecond() {
    return s.ok.sum() * (double) candidates / seconds;
  }

  private static double ms(Histogram h, double percentile) {
    return h.getTotalCount() == 0 ? 0 : h.getValueAtPercentile(percentile) / 1000.0;
  }

  private static double maxMs(Histogram h) {
    return h.getTotalCount() == 0 ? 0 : h.getMaxValue() / 1000.0;
  }

  private static String percentiles(Histogram h) {
    return String.format(Locale.ROOT, "p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f", ms(h, 50), ms(h, 90),
        ms(h, 99), ms(h, 99.9), maxMs(h));
  }

  private static String json(Histogram h) {
    return String.format(Locale.ROOT, "{\"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, \"p99_9\": %.3f, \"max\": %.3f}",
        ms(h, 50), ms(h, 90), ms(h, 99), ms(h, 99.9), maxMs(h));
  }

  /** The figures for people. */
  public void print(PrintStream out) {
    out.printf(Locale.ROOT, "%s %s: %d candidates per request, %.2f s measured%n", mode, target, candidates, seconds);
    out.printf(Locale.ROOT, "rate       %.1f req/s, %.0f candidates/s (%d issued, %d completed)%n",
        requestsPerSecond(), candidatesPerSecond(), s.issued.sum(), completed());
    out.println("latency ms " + percentiles(s.latency));
    if (s.okLatency.getTotalCount() != s.latency.getTotalCount()) {
      out.println("  OK ms    " + percentiles(s.okLatency));
      out.println("  shed ms  " + percentiles(s.shedLatency));
    }
    out.printf("status     OK %d  RESOURCE_EXHAUSTED %d  DEADLINE_EXCEEDED %d  other %d  dropped %d%n",
        s.ok.sum(), s.exhausted.sum(), s.deadline.sum(), s.other.sum(), s.dropped.sum());
  }

  /** The figures as a JSON object. */
  public String json() {
    return String.format(Locale.ROOT, """
        {
          "mode": "%s",
          "target": "%s",
          "candidates": %d,
          "seconds": %.3f,
          "issued": %d,
          "completed": %d,
          "requests_per_s": %.3f,
          "candidates_per_s": %.3f,
          "latency_ms": %s,
          "ok_latency_ms": %s,
          "shed_latency_ms": %s,
          "status": {"OK": %d, "RESOURCE_EXHAUSTED": %d, "DEADLINE_EXCEEDED": %d, "other": %d},
          "dropped": %d
        }
        """, mode, target.replace("\\", "\\\\").replace("\"", "\\\""), candidates, seconds, s.issued.sum(),
        completed(), requestsPerSecond(), candidatesPerSecond(), json(s.latency), json(s.okLatency),
        json(s.shedLatency), s.ok.sum(), s.exhausted.sum(),
        s.deadline.sum(), s.other.sum(), s.dropped.sum());
  }
}
