package io.hiformer.training;

import io.hiformer.features.OpenVocabulary;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The continuous trainer's running figures, read by a metrics exporter from another thread.
 * Counters only grow; gauges hold the latest value.
 */
public final class FollowStats {
  /** Gate outcomes: {@code pass}, or {@code fail} with the reason (a failed requirement, or why none could be checked). */
  public record Gate(String result, String reason) {}

  final AtomicLong trained = new AtomicLong();
  final AtomicLong heldOut = new AtomicLong();
  final AtomicLong skipped = new AtomicLong();
  final AtomicLong steps = new AtomicLong();
  final AtomicLong published = new AtomicLong();
  final AtomicLong promoted = new AtomicLong();
  final AtomicLong checkpoints = new AtomicLong();
  private final Map<Gate, AtomicLong> gates = new ConcurrentHashMap<>();
  volatile long lag = -1;
  volatile double freshnessSeconds = Double.NaN;
  volatile long lastPromotionMillis;
  volatile long lastPublishMillis;
  volatile long lastProgressMillis;
  volatile long newestTrainedMillis;
  volatile boolean running;
  volatile List<OpenVocabulary.Stats> vocabularies = List.of();

  FollowStats() {
    long now = System.currentTimeMillis();
    lastPromotionMillis = now;
    lastProgressMillis = now;
  }

  /** Examples trained on (held-out and skipped ones excluded), since this process started. */
  public long examplesTrained() {
    return trained.get();
  }

  /** Examples put in the held-out slice, never trained on. */
  public long examplesHeldOut() {
    return heldOut.get();
  }

  /** Records left out: unreadable, or served by a version with other transforms. */
  public long examplesSkipped() {
    return skipped.get();
  }

  public long steps() {
    return steps.get();
  }

  public long versionsPublished() {
    return published.get();
  }

  public long versionsPromoted() {
    return promoted.get();
  }

  public long checkpoints() {
    return checkpoints.get();
  }

  /** Records between the trained position and the topic's end, over all partitions; -1 until first known. */
  public long lag() {
    return lag;
  }

  /**
   * Seconds from the newest example a promoted version learned from (its Kafka time stamp: when
   * the joiner emitted it, i.e. when its outcome was joined) to the version becoming the alias;
   * NaN until a promotion.
   */
  public double freshnessSeconds() {
    return freshnessSeconds;
  }

  /** When the alias last moved to a version of this trainer (the start time until then), ms since the epoch. */
  public long lastPromotionMillis() {
    return lastPromotionMillis;
  }

  /** When the trainer last consumed a record (its start until then), ms since the epoch. */
  public long lastProgressMillis() {
    return lastProgressMillis;
  }

  /** Kafka time stamp of the newest example trained on, ms since the epoch (0: none yet). */
  public long newestTrainedMillis() {
    return newestTrainedMillis;
  }

  /** Whether the trainer's loop runs (started, not stopped or failed). */
  public boolean running() {
    return running;
  }

  /** The growing vocabularies' figures as of the last step, one per open field (empty while fixed). */
  public List<OpenVocabulary.Stats> vocabularies() {
    return vocabularies;
  }

  /** Gate outcomes so far, by result and reason. */
  public Map<Gate, Long> gates() {
    Map<Gate, Long> out = new TreeMap<>(java.util.Comparator.comparing(Gate::result).thenComparing(Gate::reason));
    gates.forEach((g, n) -> out.put(g, n.get()));
    return out;
  }

  void gate(String result, String reason) {
    gates.computeIfAbsent(new Gate(result, reason), g -> new AtomicLong()).incrementAndGet();
  }
}
