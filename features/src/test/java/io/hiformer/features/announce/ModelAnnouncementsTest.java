package io.hiformer.features.announce;

import static io.hiformer.features.kafka.TopicReader.await;
import static org.assertj.core.api.Assertions.assertThat;

import io.hiformer.localkafka.KafkaBroker;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.ModelConfig.Field;
import io.hiformer.model.ModelConfig.FieldKind;
import io.hiformer.model.ModelConfig.Side;
import io.hiformer.model.ModelRegistry;
import io.hiformer.model.Parameters;
import io.hiformer.proto.ModelAnnouncement;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Announcing registry versions on the compacted models topic and following them, on a real broker. */
class ModelAnnouncementsTest {
  static final ModelConfig CONFIG = new ModelConfig("ctr", 4, 2, 1, List.of("click"), 2, 2, 1, List.of(), 1, true,
      List.of(new Field("user", FieldKind.CATEGORICAL, Side.USER, 5), new Field("item", FieldKind.CATEGORICAL,
          Side.ITEM, 5)));
  static final String LINEAGE = "{\"metrics\": {\"click\": {\"auc\": 0.75, \"logloss\": 0.4, \"examples\": 100}}}";

  @Test
  void listenersGetTheAnnouncementsOfTheirModelAndSurviveABrokerRestart(@TempDir Path dir) throws Exception {
    ModelRegistry registry = ModelRegistry.open(dir);
    ModelRegistry.Version v1 = registry.publish("ctr", Parameters.initialize(CONFIG, 1), Map.of(), LINEAGE);
    ModelRegistry.Version other = registry.publish("other", Parameters.initialize(CONFIG, 1), Map.of(), "{}");
    List<ModelAnnouncement> heard = new CopyOnWriteArrayList<>();
    List<ModelAnnouncement> heardLate = new CopyOnWriteArrayList<>();
    try (KafkaBroker kafka = KafkaBroker.forTests();
        AnnouncementListener listener = AnnouncementListener.start(kafka.bootstrapServers(), "models", "ctr",
            heard::add)) {
      try (ModelAnnouncer announcer = ModelAnnouncer.connect(kafka.bootstrapServers(), "models")) {
        ModelAnnouncement sent = announcer.announce(registry, v1);
        assertThat(sent.getUri()).isEqualTo(v1.file().toUri().toString());
        assertThat(sent.getSha256()).isEqualTo(v1.sha256());
        assertThat(sent.getCreatedTimeMs()).isEqualTo(v1.created().toEpochMilli());
        assertThat(sent.getAliasesList()).isEmpty();
        assertThat(sent.getMetricsMap()).isEqualTo(Map.of("auc.click", 0.75, "logloss.click", 0.4));
        announcer.announce(registry, other);
        await("v1 heard", () -> heard.size() == 1);

        // Invalid records are skipped; the listener goes on.
        try (var raw = new KafkaProducer<>(Map.<String, Object>of("bootstrap.servers", kafka.bootstrapServers()),
            new StringSerializer(), new ByteArraySerializer())) {
          raw.send(new ProducerRecord<>("models", "ctr", new byte[] {(byte) 0xff})).get();
          raw.send(new ProducerRecord<>("models", "ctr", sent.toBuilder().setVersion(0).build().toByteArray())).get();
          raw.send(new ProducerRecord<>("models", "ctr", sent.toBuilder().setSha256("x").build().toByteArray())).get();
        }
        registry.setAlias("ctr", "production", 1);
        announcer.announce(registry, v1);
        await("the promotion heard", () -> heard.size() == 2);
        assertThat(heard.get(1).getAliasesList()).containsExactly("production");

        kafka.stop();
        kafka.start();
        ModelRegistry.Version v2 = registry.publish("ctr", Parameters.initialize(CONFIG, 2), Map.of(), "{}");
        announcer.announce(registry, v2);
        await("v2 heard after the broker restart", () -> heard.size() == 3);
        assertThat(heard.get(2).getVersion()).isEqualTo(2);
        assertThat(heard.get(2).getMetricsMap()).isEmpty();
      }
      // A listener started later reads what the topic holds, in order: the latest last.
      try (AnnouncementListener late = AnnouncementListener.start(kafka.bootstrapServers(), "models", "ctr",
          heardLate::add)) {
        await("the history heard", () -> heardLate.size() == 3);
        assertThat(heardLate.getLast().getVersion()).isEqualTo(2);
      }
      assertThat(heard).map(ModelAnnouncement::getModelName).containsOnly("ctr");
      try (Admin admin = Admin.create(Map.of("bootstrap.servers", kafka.bootstrapServers()))) {
        var resource = new ConfigResource(ConfigResource.Type.TOPIC, "models");
        assertThat(admin.describeConfigs(List.of(resource)).all().get().get(resource).get("cleanup.policy").value())
            .isEqualTo("compact");
      }
    }
  }
}
