package io.hiformer.features.online;

import io.hiformer.proto.EntityKind;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

/**
 * The feature topics under a prefix (default {@value #DEFAULT_PREFIX}): {@code features.user} and
 * {@code features.item} (compacted, key = entity id, value = {@code FeatureUpdate}) and
 * {@code features.dlq} (rejected records with the reason in a header).
 */
public record FeatureTopics(String prefix) {
  public static final String DEFAULT_PREFIX = "hiformer.";

  public FeatureTopics {
    if (prefix == null) {
      throw new IllegalArgumentException("topic prefix must not be null");
    }
  }

  public static FeatureTopics defaults() {
    return new FeatureTopics(DEFAULT_PREFIX);
  }

  public String user() {
    return prefix + "features.user";
  }

  public String item() {
    return prefix + "features.item";
  }

  public String dlq() {
    return prefix + "features.dlq";
  }

  /** The topic of {@code kind}'s updates. */
  public String of(EntityKind kind) {
    return switch (kind) {
      case ENTITY_KIND_USER -> user();
      case ENTITY_KIND_ITEM -> item();
      default -> throw new IllegalArgumentException("no feature topic for entity kind " + kind);
    };
  }

  /**
   * Creates whichever of the three topics do not exist yet: the update topics compacted, the
   * dead-letter topic with the broker's default retention; {@code partitions} each, replication
   * factor {@code replicas} (-1: the broker's default). Returns the topics it created.
   */
  public List<String> createMissing(Admin admin, int partitions, short replicas)
      throws InterruptedException, ExecutionException {
    Set<String> existing = admin.listTopics().names().get();
    List<NewTopic> created = new ArrayList<>();
    for (String t : List.of(user(), item())) {
      if (!existing.contains(t)) {
        created.add(new NewTopic(t, Optional.of(partitions), Optional.of(replicas))
            .configs(Map.of(TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT)));
      }
    }
    if (!existing.contains(dlq())) {
      created.add(new NewTopic(dlq(), Optional.of(partitions), Optional.of(replicas)));
    }
    List<String> names = created.stream().map(NewTopic::name).toList();
    if (!created.isEmpty()) {
      admin.createTopics(created).all().get();
      awaitLeaders(admin, names);
    }
    return names;
  }

  /** Waits (up to 30 s) until every partition of {@code topics} has a leader, so writes can start. */
  private static void awaitLeaders(Admin admin, List<String> topics) throws InterruptedException, ExecutionException {
    long deadline = System.nanoTime() + 30_000_000_000L;
    while (true) {
      try {
        boolean ready = admin.describeTopics(topics).allTopicNames().get().values().stream()
            .allMatch(d -> d.partitions().stream().allMatch(p -> p.leader() != null && !p.leader().isEmpty()));
        if (ready) {
          return;
        }
      } catch (ExecutionException e) {
        if (!(e.getCause() instanceof UnknownTopicOrPartitionException) || System.nanoTime() > deadline) {
          throw e;
        }
      }
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("topics " + topics + " have partitions without a leader after 30 s");
      }
      Thread.sleep(50);
    }
  }
}
