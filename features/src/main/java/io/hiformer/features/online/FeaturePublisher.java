package io.hiformer.features.online;

import io.hiformer.features.kafka.TopicNames;
import io.hiformer.proto.FeatureUpdate;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Publishes feature updates to their kind's topic, keyed by entity id, with an idempotent
 * producer ({@code acks=all}) that keeps retrying through broker restarts. Sends are
 * asynchronous; {@link #flush()} waits for them and fails if any was not written.
 */
public final class FeaturePublisher implements AutoCloseable {
  private final TopicNames topics;
  private final KafkaProducer<String, byte[]> producer;
  private final AtomicLong failed = new AtomicLong();
  private final AtomicReference<Exception> firstFailure = new AtomicReference<>();

  public FeaturePublisher(String bootstrapServers, TopicNames topics) {
    this.topics = topics;
    Map<String, Object> c = new HashMap<>();
    c.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    c.put(ProducerConfig.CLIENT_ID_CONFIG, "hiformer-features-publisher");
    c.put(ProducerConfig.ACKS_CONFIG, "all");
    c.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    // One request in flight: a batch retried after NOT_LEADER_OR_FOLLOWER (a topic just created, a
    // broker restarting) cannot be overtaken by the next, which can wedge the idempotent sequence.
    c.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, 1);
    c.put(ProducerConfig.LINGER_MS_CONFIG, 5);
    c.put(ProducerConfig.BATCH_SIZE_CONFIG, 256 << 10);
    c.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 300_000);
    this.producer = new KafkaProducer<>(c, new StringSerializer(), new ByteArraySerializer());
  }

  /** Queues {@code update} for its kind's topic; a failure is reported by {@link #flush()}. */
  public void send(FeatureUpdate update) {
    String topic = topics.features(update.getEntityKind());
    try {
      producer.send(new ProducerRecord<>(topic, update.getEntityId(), update.toByteArray()), (meta, error) -> {
        if (error != null) {
          failed.incrementAndGet();
          firstFailure.compareAndSet(null, error);
        }
      });
    } catch (KafkaException e) {
      failed.incrementAndGet();
      firstFailure.compareAndSet(null, e);
    }
  }

  /** Waits until every update sent so far is written; throws naming how many were not. */
  public void flush() {
    producer.flush();
    long n = failed.get();
    if (n > 0) {
      throw new KafkaException(n + " feature updates were not written; the first error: " + firstFailure.get(),
          firstFailure.get());
    }
  }

  @Override
  public void close() {
    producer.close();
  }
}
