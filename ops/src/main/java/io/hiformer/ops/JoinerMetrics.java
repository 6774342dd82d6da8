package io.hiformer.ops;

import io.hiformer.features.joiner.ExampleJoiner;
import io.hiformer.features.joiner.JoinerCounts;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.binder.kafka.KafkaStreamsMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.function.ToDoubleFunction;
import org.apache.kafka.streams.KafkaStreams;

/**
 * The example joiner's Prometheus metrics: its counts ({@code hiformer_joiner_*}), whether its
 * streams run, Kafka Streams' own metrics (lag, commit and process rates, under {@code kafka_}), and the
 * JVM's and process's ({@link ProcessMetrics}).
 */
final class JoinerMetrics implements AutoCloseable {
  private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private final KafkaStreamsMetrics streams;
  private final ProcessMetrics process = new ProcessMetrics(registry);

  JoinerMetrics(ExampleJoiner joiner) {
    JoinerCounts counts = joiner.counts();
    counter("hiformer.joiner.requests", "rank-log entries taken into the join state", counts, JoinerCounts::requests);
    counter("hiformer.joiner.outcomes.joined", "outcomes attached to a served candidate", counts,
        JoinerCounts::outcomesJoined);
    counter("hiformer.joiner.requests.closed", "requests whose window closed and whose examples were emitted", counts,
        JoinerCounts::requestsClosed);
    counter("hiformer.joiner.examples", "training examples emitted", counts, JoinerCounts::examples);
    counter("hiformer.joiner.positives", "examples with at least one label above 0", counts, JoinerCounts::positives);
    Gauge.builder("hiformer.joiner.outcomes.waiting", counts, JoinerCounts::outcomesWaiting)
        .description("outcomes that arrived before their request's rank-log entry and wait for it").register(registry);
    for (String reason : counts.rejected().keySet()) {
      FunctionCounter.builder("hiformer.joiner.dead.letters", counts, c -> c.rejected().get(reason))
          .description("records sent to the dead-letter topic, by reason").tag("reason", reason).register(registry);
    }
    KafkaStreams ks = joiner.streams();
    Gauge.builder("hiformer.joiner.running", ks, s -> s.state() == KafkaStreams.State.RUNNING ? 1 : 0)
        .description("1 while the joiner's streams are RUNNING (0 while rebalancing, stopped or failed)")
        .register(registry);
    streams = new KafkaStreamsMetrics(ks);
    streams.bindTo(registry);
  }

  private void counter(String name, String description, JoinerCounts counts, ToDoubleFunction<JoinerCounts> f) {
    FunctionCounter.builder(name, counts, f).description(description).register(registry);
  }

  String scrape() {
    return registry.scrape();
  }

  @Override
  public void close() {
    streams.close();
    process.close();
    registry.close();
  }
}
