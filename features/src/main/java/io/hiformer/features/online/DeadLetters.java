package io.hiformer.features.online;

import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Sends rejected records to the dead-letter topic with their key, value and headers plus the
 * reason and source headers. Thread-safe (the Kafka producer is). A record the topic does not take
 * is logged with its source and counted, never dropped silently.
 */
final class DeadLetters implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger(FeatureIngestor.class.getName());

  private final String topic;
  private final IngestMetrics metrics;
  private final KafkaProducer<byte[], byte[]> producer;

  DeadLetters(String bootstrapServers, String clientId, String topic, IngestMetrics metrics) {
    this.topic = topic;
    this.metrics = metrics;
    Map<String, Object> c = new HashMap<>();
    c.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    c.put(ProducerConfig.CLIENT_ID_CONFIG, clientId);
    c.put(ProducerConfig.ACKS_CONFIG, "all");
    c.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    c.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, 1); // see FeaturePublisher
    // Keep retrying through a broker outage rather than dropping a rejected record.
    c.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, Integer.MAX_VALUE);
    c.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 30_000);
    c.put(ProducerConfig.LINGER_MS_CONFIG, 5);
    this.producer = new KafkaProducer<>(c, new ByteArraySerializer(), new ByteArraySerializer());
  }

  /** Counts the rejection of {@code r} (of kind index {@code kind}) and sends it to the topic. */
  void reject(int kind, ConsumerRecord<byte[], byte[]> r, Rejection problem) {
    metrics.rejected(kind, problem.reason());
    RecordHeaders headers = new RecordHeaders(r.headers().toArray());
    headers.add(FeatureIngestor.REASON_HEADER, problem.toString().getBytes(StandardCharsets.UTF_8));
    headers.add(FeatureIngestor.REASON_CODE_HEADER, problem.reason().tag().getBytes(StandardCharsets.UTF_8));
    headers.add(FeatureIngestor.SOURCE_HEADER, source(r).getBytes(StandardCharsets.UTF_8));
    try {
      producer.send(new ProducerRecord<>(topic, null, r.key(), r.value(), headers), (meta, error) -> {
        if (error != null) {
          failed(r, problem, error);
        }
      });
    } catch (KafkaException e) {
      failed(r, problem, e);
    }
  }

  private void failed(ConsumerRecord<byte[], byte[]> r, Rejection problem, Exception error) {
    metrics.dlqFailed();
    LOG.log(Level.ERROR, "dead-letter topic " + topic + " did not take rejected record " + source(r)
        + " (" + problem + "): " + error);
  }

  static String source(ConsumerRecord<?, ?> r) {
    return r.topic() + "/" + r.partition() + "@" + r.offset();
  }

  /** Waits until every record handed over so far was written (or failed, logged and counted). */
  void flush() {
    producer.flush();
  }

  /** Sends what is pending, waiting up to 10 s. */
  @Override
  public void close() {
    producer.close(Duration.ofSeconds(10));
  }
}
