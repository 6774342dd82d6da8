package io.hiformer.features.kafka;

import java.util.Objects;

/**
 * The Kafka topics of DESIGN.md under one configurable prefix (default {@value #DEFAULT_PREFIX}),
 * so several deployments can share a cluster.
 */
public record TopicNames(String prefix) {
  public static final String DEFAULT_PREFIX = "hiformer.";
  public static final TopicNames DEFAULT = new TopicNames(DEFAULT_PREFIX);

  public TopicNames {
    Objects.requireNonNull(prefix, "prefix");
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
