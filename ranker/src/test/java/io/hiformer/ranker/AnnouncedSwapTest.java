package io.hiformer.ranker;

import static io.hiformer.features.kafka.TopicReader.await;
import static io.hiformer.ranker.RankServiceTest.channel;
import static io.hiformer.ranker.RankServiceTest.startServer;
import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.ManagedChannel;
import io.hiformer.features.announce.AnnouncementListener;
import io.hiformer.features.announce.ModelAnnouncer;
import io.hiformer.localkafka.KafkaBroker;
import io.hiformer.model.ModelRegistry;
import io.hiformer.proto.RankerGrpc;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A ranker following the models topic on a real broker swaps to announced versions without polling. */
class AnnouncedSwapTest {

  @Test
  void announcedAliasMovesSwapAndAForeignFileIsRefused(@TempDir Path dir) throws Exception {
    ModelRegistry registry = ModelRegistry.open(dir);
    TinyModels.publish(registry, 1);
    registry.setAlias(TinyModels.NAME, "production", 1);
    try (KafkaBroker kafka = KafkaBroker.forTests();
        ModelAnnouncer announcer = ModelAnnouncer.connect(kafka.bootstrapServers(), "models");
        RegistryWatcher watcher = new RegistryWatcher(registry, TinyModels.NAME, "production", 1,
            RankOptions.DEFAULTS);
        AnnouncementListener following = watcher.follow(kafka.bootstrapServers(), "models");
        RankerServer server = startServer(watcher.service())) {
      ManagedChannel channel = channel(server);
      var ranker = RankerGrpc.newBlockingStub(channel);
      try {
        // A new version that production does not point at: announced, not served.
        ModelRegistry.Version v2 = TinyModels.publish(registry, 2);
        announcer.announce(registry, v2);
        registry.setAlias(TinyModels.NAME, "production", 2);
        announcer.announce(registry, v2);
        await("v2 served after its promotion was announced",
            () -> ranker.rank(RegistryWatcherTest.REQUEST).getModelVersion() == 2);

        // An announcement whose file is not the registry's: refused, v2 keeps serving.
        ModelRegistry.Version v3 = TinyModels.publish(registry, 3);
        registry.setAlias(TinyModels.NAME, "production", 3);
        try (var raw = new KafkaProducer<>(Map.<String, Object>of("bootstrap.servers", kafka.bootstrapServers()),
            new StringSerializer(), new ByteArraySerializer())) {
          raw.send(new ProducerRecord<>("models", TinyModels.NAME, ModelAnnouncer.announcement(registry, v3)
              .toBuilder().setSha256("0".repeat(64)).build().toByteArray())).get();
        }
        await("the foreign announcement refused", () -> RegistryWatcherTest.refusals(watcher.service()) == 1);
        assertThat(ranker.rank(RegistryWatcherTest.REQUEST).getModelVersion()).isEqualTo(2);
      } finally {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }
}
