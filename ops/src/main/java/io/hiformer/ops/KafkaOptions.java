package io.hiformer.ops;

import io.hiformer.features.kafka.TopicNames;
import picocli.CommandLine.Option;

/**
 * {@code --bootstrap-servers} and {@code --topic-prefix}, the same two options in every command
 * that talks to Kafka ({@code serve}, {@code joiner}, {@code features load}, and through
 * {@link AnnounceOptions} {@code train}, {@code models promote} and {@code models rollback}).
 * Whether Kafka is optional, required or has a default is each command's business
 * ({@link #given}, {@link #required}, {@link #orDefault}); what it is used for is in the command's
 * description.
 */
final class KafkaOptions {

  @Option(names = "--bootstrap-servers", paramLabel = "HOST:PORT[,...]", description = "Kafka bootstrap servers")
  String bootstrapServers;

  @Option(names = "--topic-prefix", defaultValue = TopicNames.DEFAULT_PREFIX, paramLabel = "PREFIX",
      description = "prefix of the Kafka topic names (default: ${DEFAULT-VALUE})")
  String topicPrefix;

  /** True when Kafka was given. */
  boolean given() {
    return bootstrapServers != null && !bootstrapServers.isBlank();
  }

  /** The bootstrap servers; IllegalArgumentException naming the option when it was not given. */
  String required() {
    if (!given()) {
      throw new IllegalArgumentException("--bootstrap-servers is required");
    }
    return bootstrapServers;
  }

  /** The bootstrap servers, or {@code fallback} when none were given. */
  String orDefault(String fallback) {
    return given() ? bootstrapServers : fallback;
  }

  TopicNames topics() {
    return new TopicNames(topicPrefix);
  }
}
