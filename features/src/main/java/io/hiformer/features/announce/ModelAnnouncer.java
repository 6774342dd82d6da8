package io.hiformer.features.announce;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.hiformer.features.kafka.KafkaTopics;
import io.hiformer.model.ModelRegistry;
import io.hiformer.proto.ModelAnnouncement;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Announces registry versions on the compacted {@code models} topic (key = model name, value =
 * {@link ModelAnnouncement}), so running rankers load them without polling the registry. Creates
 * the topic (one partition, compacted) when it is missing. Announcing waits for the broker's
 * acknowledgement: a publish that returns has been announced.
 */
public final class ModelAnnouncer implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final long TIMEOUT_SECONDS = 30;

  private final String topic;
  private final KafkaProducer<String, byte[]> producer;

  private ModelAnnouncer(String bootstrapServers, String topic) {
    this.topic = topic;
    this.producer = new KafkaProducer<>(Map.of(
        ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers,
        ProducerConfig.ACKS_CONFIG, "all",
        ProducerConfig.MAX_BLOCK_MS_CONFIG, TimeUnit.SECONDS.toMillis(TIMEOUT_SECONDS),
        ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, (int) TimeUnit.SECONDS.toMillis(TIMEOUT_SECONDS / 2),
        ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, (int) TimeUnit.SECONDS.toMillis(TIMEOUT_SECONDS),
        ProducerConfig.CLIENT_ID_CONFIG, "hiformer-model-announcer"),
        new StringSerializer(), new ByteArraySerializer());
  }

  /** An announcer to {@code topic}, created compacted if missing. */
  public static ModelAnnouncer connect(String bootstrapServers, String topic) {
    try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers,
        AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) TimeUnit.SECONDS.toMillis(TIMEOUT_SECONDS)))) {
      KafkaTopics.ensure(admin, List.of(KafkaTopics.compacted(topic, 1)));
    }
    return new ModelAnnouncer(bootstrapServers, topic);
  }

  /** Announces {@code version} of {@code registry} as it is now (with its current aliases); returns what was sent. */
  public ModelAnnouncement announce(ModelRegistry registry, ModelRegistry.Version version) throws IOException {
    ModelAnnouncement a = announcement(registry, version);
    try {
      producer.send(new ProducerRecord<>(topic, a.getModelName(), a.toByteArray()))
          .get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
    } catch (ExecutionException | TimeoutException e) {
      Throwable cause = e instanceof ExecutionException ? e.getCause() : e;
      throw new IOException("cannot announce " + a.getModelName() + " v" + a.getVersion() + " on " + topic + ": "
          + cause, cause);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while announcing on " + topic, e);
    }
    return a;
  }

  /**
   * The announcement of {@code version}: where its file is, its SHA-256, the aliases that point at
   * it now, when it was written, and the validation metrics of its lineage ({@code auc.TASK},
   * {@code logloss.TASK}) when it has them.
   */
  public static ModelAnnouncement announcement(ModelRegistry registry, ModelRegistry.Version version)
      throws IOException {
    ModelAnnouncement.Builder a = ModelAnnouncement.newBuilder()
        .setModelName(version.model())
        .setVersion(version.number())
        .setUri(version.file().toUri().toString())
        .setSha256(version.sha256())
        .setCreatedTimeMs(version.created().toEpochMilli());
    registry.aliases(version.model()).forEach((alias, target) -> {
      if (target == version.number()) {
        a.addAliases(alias);
      }
    });
    JsonNode metrics = JSON.readTree(version.lineageJson()).path("metrics");
    metrics.properties().forEach(task -> task.getValue().properties().forEach(m -> {
      if (m.getValue().isNumber() && !m.getKey().equals("examples")) {
        a.putMetrics(m.getKey() + "." + task.getKey(), m.getValue().asDouble());
      }
    }));
    return a.build();
  }

  @Override
  public void close() {
    producer.close();
  }
}
