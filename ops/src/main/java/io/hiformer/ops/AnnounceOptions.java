package io.hiformer.ops;

import io.hiformer.features.announce.ModelAnnouncer;
import io.hiformer.model.ModelRegistry;
import io.hiformer.proto.ModelAnnouncement;
import java.io.IOException;
import java.io.PrintStream;
import picocli.CommandLine.Mixin;

/**
 * The Kafka options of the commands that change what a registry serves (publish, promote,
 * rollback): with Kafka given, the change is announced on the compacted {@code models} topic so
 * running rankers pick it up at once.
 */
final class AnnounceOptions {

  @Mixin
  KafkaOptions kafka = new KafkaOptions();

  /** Announces {@code version} when Kafka is given; says so on {@code out}. */
  void announce(ModelRegistry registry, ModelRegistry.Version version, PrintStream out) throws IOException {
    if (!kafka.given()) {
      return;
    }
    String bootstrapServers = kafka.bootstrapServers;
    String topic = kafka.topics().models();
    try (ModelAnnouncer announcer = ModelAnnouncer.connect(bootstrapServers, topic)) {
      ModelAnnouncement a = announcer.announce(registry, version);
      out.printf("announced %s v%d%s on %s%n", a.getModelName(), a.getVersion(),
          a.getAliasesCount() == 0 ? "" : " " + a.getAliasesList(), topic);
    } catch (RuntimeException e) {
      throw new IOException("cannot announce on " + topic + " at " + bootstrapServers + ": " + e.getMessage(), e);
    }
  }
}
