package io.hiformer.ops.loadtest;

import io.grpc.Status;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import org.HdrHistogram.ConcurrentHistogram;
import org.HdrHistogram.Histogram;

/** Latencies (microseconds) and status counts of the measured window; thread-safe. */
final class Stats {
  final Histogram latency = new ConcurrentHistogram(3);
  /** Latency of the calls answered OK, and of those shed (RESOURCE_EXHAUSTED). */
  final Histogram okLatency = new ConcurrentHistogram(3);
  final Histogram shedLatency = new ConcurrentHistogram(3);
  final LongAdder ok = new LongAdder();
  final LongAdder exhausted = new LongAdder();
  final LongAdder deadline = new LongAdder();
  final LongAdder other = new LongAdder();
  final LongAdder dropped = new LongAdder();
  final LongAdder issued = new LongAdder();
  /** Completed calls by status code. */
  final Map<Status.Code, LongAdder> codes = new ConcurrentHashMap<>();

  void record(long micros, Status.Code code) {
    latency.recordValue(Math.max(0, micros));
    codes.computeIfAbsent(code, c -> new LongAdder()).increment();
    switch (code) {
      case OK -> {
        ok.increment();
        okLatency.recordValue(Math.max(0, micros));
      }
      case RESOURCE_EXHAUSTED -> {
        exhausted.increment();
        shedLatency.recordValue(Math.max(0, micros));
      }
      case DEADLINE_EXCEEDED -> deadline.increment();
      default -> other.increment();
    }
  }
}
