package io.hiformer.features.online;

import io.hiformer.features.kafka.TopicNames;
import static io.hiformer.features.online.Updates.USER;
import static io.hiformer.features.online.Updates.cat;
import static io.hiformer.features.online.Updates.update;
import static org.assertj.core.api.Assertions.assertThat;

import io.hiformer.localkafka.KafkaBroker;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** Broker restarts and ingestor restarts, each with a broker of its own. */
class IngestorRestartTest {
  private static final int USERS = 300;
  private static final TopicNames TOPICS = TopicNames.DEFAULT;

  @Test
  void aBrokerStoppedAndRestartedMidStreamLosesNoUpdate() throws Exception {
    try (KafkaBroker kafka = KafkaBroker.forTests()) {
      Kafkas.createTopics(kafka, TOPICS, 2);
      FeatureStore store = new FeatureStore(Updates.storeSchema(), 10_000);
      SimpleMeterRegistry registry = new SimpleMeterRegistry();
      try (FeatureIngestor ingestor = FeatureIngestor.start(
          FeatureIngestor.Settings.of(kafka.bootstrapServers(), TOPICS), store, registry)) {
        assertThat(ingestor.awaitCaughtUp(Duration.ofSeconds(30))).isTrue();

        int total = 3000;
        AtomicInteger sent = new AtomicInteger();
        CountDownLatch halfway = new CountDownLatch(1);
        AtomicReference<Exception> failure = new AtomicReference<>();
        Thread producer = new Thread(() -> {
          try (FeaturePublisher publisher = new FeaturePublisher(kafka.bootstrapServers(), TOPICS)) {
            for (int i = 0; i < total; i++) {
              publisher.send(update(USER, "u" + i % USERS, i + 1, "country", cat("v" + i)));
              sent.incrementAndGet();
              if (i == total / 3) {
                halfway.countDown();
              }
              Thread.sleep(0, 500_000);
            }
            publisher.flush();
          } catch (Exception e) {
            failure.set(e);
          }
        });
        producer.start();
        assertThat(halfway.await(30, TimeUnit.SECONDS)).isTrue();
        kafka.stop();
        int sentWhileDown = sent.get();
        double appliedWhileDown = registry.get("hiformer.features.updates").tag("kind", "user").counter().count();
        Thread.sleep(1000);
        kafka.start();
        producer.join(Duration.ofSeconds(60));
        assertThat(failure.get()).isNull();
        assertThat(sentWhileDown).as("the broker went down mid-stream").isLessThan(total);
        assertThat(appliedWhileDown).as("the rest was ingested after the restart").isLessThan(total);

        // Each user's last update is the one with the highest i, i.e. i = total - USERS + u.
        long ms = Kafkas.waitFor(Duration.ofSeconds(30), () -> {
          for (int u = 0; u < USERS; u++) {
            StoredEntity e = store.user("u" + u);
            if (e == null || !cat("v" + (total - USERS + u)).equals(e.feature("country"))) {
              return false;
            }
          }
          return true;
        });
        assertThat(ms).as("all final values visible").isNotNegative();
        assertThat(Kafkas.waitFor(Duration.ofSeconds(10), () ->
            registry.get("hiformer.features.updates").tag("kind", "user").counter().count() == total))
            .as("every update applied exactly once").isNotNegative();
        assertThat(registry.get("hiformer.features.dlq").tag("kind", "user").tag("reason", "unparsable").counter()
            .count()).isZero();
      }
    }
  }

  @Test
  void aRestartedIngestorCatchesUpFromTheTopicsAndWaitsForABrokerThatIsDown() throws Exception {
    try (KafkaBroker kafka = KafkaBroker.forTests()) {
      Kafkas.createTopics(kafka, TOPICS, 2);
      try (FeaturePublisher publisher = new FeaturePublisher(kafka.bootstrapServers(), TOPICS)) {
        for (int i = 0; i < 1000; i++) {
          publisher.send(update(USER, "u" + i % USERS, i + 1, "country", cat("v" + i)));
        }
        publisher.flush();
      }
      FeatureStore first = new FeatureStore(Updates.storeSchema(), 10_000);
      try (FeatureIngestor ingestor = FeatureIngestor.start(
          FeatureIngestor.Settings.of(kafka.bootstrapServers(), TOPICS), first, new SimpleMeterRegistry())) {
        assertThat(ingestor.awaitCaughtUp(Duration.ofSeconds(30))).isTrue();
      }

      kafka.stop();
      FeatureStore second = new FeatureStore(Updates.storeSchema(), 10_000);
      try (FeatureIngestor ingestor = FeatureIngestor.start(
          FeatureIngestor.Settings.of(kafka.bootstrapServers(), TOPICS), second, new SimpleMeterRegistry())) {
        assertThat(ingestor.awaitCaughtUp(Duration.ofSeconds(2))).as("not caught up while the broker is down").isFalse();
        kafka.start();
        assertThat(ingestor.awaitCaughtUp(Duration.ofSeconds(60))).isTrue();
      }
      assertThat(second.size(USER)).isEqualTo(USERS);
      for (int u = 0; u < USERS; u++) {
        assertThat(second.user("u" + u).feature("country")).isEqualTo(first.user("u" + u).feature("country"))
            .isEqualTo(cat("v" + (u + USERS * ((999 - u) / USERS)))); // the last i with i % USERS == u
      }
    }
  }
}
