package io.hiformer.ops;

import io.hiformer.features.announce.ModelAnnouncer;
import io.hiformer.features.kafka.TopicNames;
import io.hiformer.model.ModelRegistry;
import io.hiformer.proto.ModelAnnouncement;
import java.io.IOException;
import java.io.PrintStream;
import picocli.CommandLine.Option;

/**
 * {@code --bootstrap-servers} and {@code --topic-prefix} of the commands that change what a
 * registry serves (publish, promote, rollback): with Kafka given, the change is announced on the
 * compacted {@code models} topic so running rankers pick it up at once.
 */
final class AnnounceOptions {

  @Option(names = "--bootstrap-servers", paramLabel = "HOST:PORT[,...]",
      description = "Kafka: announce the version on the models topic (rankers following it load it at once)")
  String bootstrapServers;

  @Option(names = "--topic-prefix", defaultValue = TopicNames.DEFAULT_PREFIX, paramLabel = "PREFIX",
      description = "prefix of the Kafka topic names (default: ${DEFAULT-VALUE})")
  String topicPrefix;

  TopicNames topics() {
    return new TopicNames(topicPrefix);
  }

  /** Announces {@code version} when Kafka is given; says so on {@code out}. */
  void announce(ModelRegistry registry, ModelRegistry.Version version, PrintStream out) throws IOException {
    if (bootstrapServers == null || bootstrapServers.isBlank()) {
      return;
    }
    String topic = topics().models();
    try (ModelAnnouncer announcer = ModelAnnouncer.connect(bootstrapServers, topic)) {
      ModelAnnouncement a = announcer.announce(registry, version);
      out.printf("announced %s v%d%s on %s%n", a.getModelName(), a.getVersion(),
          a.getAliasesCount() == 0 ? "" : " " + a.getAliasesList(), topic);
    } catch (RuntimeException e) {
      throw new IOException("cannot announce on " + topic + " at " + bootstrapServers + ": " + e.getMessage(), e);
    }
  }
}
