package io.hiformer.features.kafka;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;

/** Creating the project's topics when they are missing, and reading their partition counts. */
public final class KafkaTopics {
  private KafkaTopics() {}

  /** A topic with {@code partitions} partitions and the broker's default replication. */
  public static NewTopic topic(String name, int partitions) {
    return new NewTopic(name, java.util.Optional.of(partitions), java.util.Optional.empty());
  }

  /** A compacted topic: the broker keeps the latest record per key. */
  public static NewTopic compacted(String name, int partitions) {
    return topic(name, partitions).configs(Map.of(TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT));
  }

  /** Creates the topics that do not exist yet; existing ones are left as they are. */
  public static void ensure(Admin admin, Collection<NewTopic> topics) {
    List<Throwable> failures = new ArrayList<>();
    admin.createTopics(topics).values().forEach((name, future) -> {
      try {
        future.get();
      } catch (ExecutionException e) {
        if (!(e.getCause() instanceof TopicExistsException)) {
          failures.add(new IllegalStateException("cannot create topic " + name + ": " + e.getCause(), e.getCause()));
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        failures.add(e);
      }
    });
    if (!failures.isEmpty()) {
      IllegalStateException e = new IllegalStateException(failures.getFirst().getMessage(), failures.getFirst());
      failures.stream().skip(1).forEach(e::addSuppressed);
      throw e;
    }
  }

  /**
   * The feature topics: user and item updates compacted, the dead-letter topic with the broker's
   * default retention; {@code partitions} each.
   */
  public static List<NewTopic> featureTopics(TopicNames names, int partitions) {
    return List.of(compacted(names.featuresUser(), partitions), compacted(names.featuresItem(), partitions),
        topic(names.featuresDlq(), partitions));
  }

  /**
   * Waits up to {@code timeout} until every partition of {@code names} has a leader: writes to a
   * topic created a moment ago can otherwise fail over to retries while its leader starts.
   */
  public static void awaitLeaders(Admin admin, Collection<String> names, java.time.Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    try {
      while (true) {
        try {
          boolean ready = admin.describeTopics(names).allTopicNames().get().values().stream()
              .allMatch(d -> d.partitions().stream().allMatch(p -> p.leader() != null && !p.leader().isEmpty()));
          if (ready) {
            return;
          }
        } catch (ExecutionException e) {
          if (!(e.getCause() instanceof org.apache.kafka.common.errors.UnknownTopicOrPartitionException)) {
            throw new IllegalStateException("cannot describe topics " + names + ": " + e.getCause().getMessage(),
                e.getCause());
          }
        }
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("topics " + names + " still have partitions without a leader after " + timeout);
        }
        Thread.sleep(50);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while waiting for the leaders of " + names, e);
    }
  }

  /** The partition count of each of {@code names}; fails naming a topic that does not exist. */
  public static Map<String, Integer> partitions(Admin admin, Collection<String> names) {
    try {
      Map<String, TopicDescription> described = admin.describeTopics(names).allTopicNames().get();
      Map<String, Integer> out = new java.util.LinkedHashMap<>();
      for (String name : names) {
        out.put(name, described.get(name).partitions().size());
      }
      return out;
    } catch (ExecutionException e) {
      throw new IllegalStateException("cannot describe topics " + names + ": " + e.getCause().getMessage(), e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while describing topics " + names, e);
    }
  }
}
