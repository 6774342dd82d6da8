package io.hiformer.ops;

import io.hiformer.features.OpenVocabulary;
import io.hiformer.training.FollowStats;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.HashSet;
import java.util.Set;
import java.util.function.ToDoubleFunction;

/**
 * The continuous trainer's Prometheus metrics ({@code hiformer_follow_*}): examples by result
 * (their rate is the trainer's examples/s), steps, lag behind the topic's end, versions published
 * and promoted, gate results by reason, freshness, the time of the last promotion, each growing
 * vocabulary's size and ids admitted, expired and refused (by field), and the JVM's and process's
 * ({@link ProcessMetrics}).
 */
final class FollowMetrics implements AutoCloseable {
  private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private final ProcessMetrics process = new ProcessMetrics(registry);
  private final FollowStats stats;
  private final Set<FollowStats.Gate> gates = new HashSet<>();
  private final Set<String> vocabularies = new HashSet<>();

  FollowMetrics(FollowStats stats) {
    this.stats = stats;
    examples("trained", FollowStats::examplesTrained);
    examples("held_out", FollowStats::examplesHeldOut);
    examples("skipped", FollowStats::examplesSkipped);
    counter("hiformer.follow.steps", "optimiser steps taken", FollowStats::steps);
    counter("hiformer.follow.checkpoints", "checkpoint generations committed", FollowStats::checkpoints);
    counter("hiformer.follow.versions.published", "versions published to the registry", FollowStats::versionsPublished);
    counter("hiformer.follow.versions.promoted", "versions that passed their gates and became the alias",
        FollowStats::versionsPromoted);
    gauge("hiformer.follow.lag.records", "records between the trained position and the end of the examples topic",
        s -> s.lag() < 0 ? Double.NaN : s.lag());
    gauge("hiformer.follow.freshness.seconds", "time from the newest example the last promoted version learned from"
        + " (its Kafka time stamp) to that version becoming the alias", FollowStats::freshnessSeconds);
    gauge("hiformer.follow.last.promotion.timestamp.seconds", "when the alias last moved to a version of this"
        + " trainer (the trainer's start until then), seconds since the epoch", s -> s.lastPromotionMillis() / 1000.0);
    gauge("hiformer.follow.last.progress.timestamp.seconds", "when the trainer last consumed a record, seconds since"
        + " the epoch", s -> s.lastProgressMillis() / 1000.0);
    gauge("hiformer.follow.newest.trained.timestamp.seconds", "Kafka time stamp of the newest example trained on,"
        + " seconds since the epoch", s -> s.newestTrainedMillis() / 1000.0);
    gauge("hiformer.follow.running", "1 while the trainer's loop runs", s -> s.running() ? 1 : 0);
  }

  private void examples(String result, ToDoubleFunction<FollowStats> f) {
    FunctionCounter.builder("hiformer.follow.examples", stats, f)
        .description("records of the examples topic consumed, by result: trained, held_out (the gates' slice, never"
            + " trained on) or skipped (unreadable, or served with other transforms)")
        .tag("result", result).register(registry);
  }

  private void counter(String name, String description, ToDoubleFunction<FollowStats> f) {
    FunctionCounter.builder(name, stats, f).description(description).register(registry);
  }

  private void gauge(String name, String description, ToDoubleFunction<FollowStats> f) {
    Gauge.builder(name, stats, f).description(description).register(registry);
  }

  /** The metrics text; gate results seen for the first time get their series here. */
  synchronized String scrape() {
    for (FollowStats.Gate g : stats.gates().keySet()) {
      if (gates.add(g)) {
        FunctionCounter.builder("hiformer.follow.gates", stats, s -> s.gates().getOrDefault(g, 0L))
            .description("published versions' gate results: pass, or fail with the reason (the first requirement"
                + " that failed, no_baseline, no_holdout, evaluation_error or promotion_error)")
            .tag("result", g.result()).tag("reason", g.reason()).register(registry);
      }
    }
    for (OpenVocabulary.Stats v : stats.vocabularies()) {
      if (vocabularies.add(v.field())) {
        vocabulary(v.field(), Gauge.builder("hiformer.follow.vocabulary.size", stats,
            s -> field(s, v.field()).size()).description("ids an open field's vocabulary holds (rows in use)"));
        vocabularyCounter(v.field(), "admitted", "ids admitted to an open field's vocabulary",
            OpenVocabulary.Stats::admitted);
        vocabularyCounter(v.field(), "expired", "ids expired from an open field's vocabulary (unseen for its ttl)",
            OpenVocabulary.Stats::expired);
        vocabularyCounter(v.field(), "refused", "ids that reached min_count while the vocabulary was at its maximum",
            OpenVocabulary.Stats::refused);
      }
    }
    return registry.scrape();
  }

  private void vocabulary(String field, Gauge.Builder<FollowStats> b) {
    b.tag("field", field).register(registry);
  }

  private void vocabularyCounter(String field, String what, String description,
      ToDoubleFunction<OpenVocabulary.Stats> f) {
    FunctionCounter.builder("hiformer.follow.vocabulary." + what, stats, s -> f.applyAsDouble(field(s, field)))
        .description(description + " since the base version (a resumed run included)").tag("field", field)
        .register(registry);
  }

  /** The named field's latest figures (the list is replaced after each step). */
  private static OpenVocabulary.Stats field(FollowStats s, String field) {
    for (OpenVocabulary.Stats v : s.vocabularies()) {
      if (v.field().equals(field)) {
        return v;
      }
    }
    throw new IllegalStateException("no open field " + field);
  }

  @Override
  public void close() {
    process.close();
    registry.close();
  }
}
