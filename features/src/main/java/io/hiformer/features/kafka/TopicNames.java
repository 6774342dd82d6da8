package io.hiformer.features.kafka;

import io.hiformer.proto.EntityKind;
import java.util.Objects;

/**
 * The Kafka topics of docs/kafka-topics.md under one configurable prefix (default {@value #DEFAULT_PREFIX}),
 * so several deployments can share a cluster.
 */
public record TopicNames(String prefix) {
  public static final String DEFAULT_PREFIX = "hiformer.";
  public static final TopicNames DEFAULT = new TopicNames(DEFAULT_PREFIX);

  public TopicNames {
    Objects.requireNonNull(prefix, "prefix");
  }

  /** Feature updates of users, compacted: {@code FeatureUpdate}, key = user id. */
  public String featuresUser() {
    return prefix + "features.user";
  }

  /** Feature updates of items, compacted: {@code FeatureUpdate}, key = item id. */
  public String featuresItem() {
    return prefix + "features.item";
  }

  /** Feature records the ingestors rejected, with the reason in a header. */
  public String featuresDlq() {
    return prefix + "features.dlq";
  }

  /** The topic of {@code kind}'s feature updates. */
  public String features(EntityKind kind) {
    return switch (kind) {
      case ENTITY_KIND_USER -> featuresUser();
      case ENTITY_KIND_ITEM -> featuresItem();
      default -> throw new IllegalArgumentException("no feature topic for entity kind " + kind);
    };
  }

  /** What the ranker served: one {@code RankLogEntry} per Rank call, key = request id. */
  public String rankLog() {
    return prefix + "rank-log";
  }

  /** Observed outcomes: {@code Outcome}, key = request id. */
  public String outcomes() {
    return prefix + "outcomes";
  }

  /** Joined training examples: {@code TrainingExample}, key = request id. */
  public String examples() {
    return prefix + "examples";
  }

  /** Records the example joiner could not use, with the reason in a header. */
  public String examplesDlq() {
    return prefix + "examples.dlq";
  }

  /** Model announcements, compacted: {@code ModelAnnouncement}, key = model name. */
  public String models() {
    return prefix + "models";
  }
}
