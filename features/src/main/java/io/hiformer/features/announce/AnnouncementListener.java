package io.hiformer.features.announce;

import com.google.protobuf.InvalidProtocolBufferException;
import io.hiformer.proto.ModelAnnouncement;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.regex.Pattern;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Follows the {@code models} topic for one model name and hands each valid announcement to a
 * callback, on its own thread: first the ones the topic holds (after compaction, the latest), then
 * new ones as they come. Invalid announcements are logged and skipped. A missing topic or an
 * unreachable broker is waited out; the listener never stops on its own. Reads without a consumer
 * group: every listener sees every announcement.
 */
public final class AnnouncementListener implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger(AnnouncementListener.class.getName());
  private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");
  private static final Duration RETRY = Duration.ofSeconds(1);

  private final String topic;
  private final String model;
  private final Consumer<ModelAnnouncement> onAnnouncement;
  private final KafkaConsumer<String, byte[]> consumer;
  private final Thread thread;
  private final CountDownLatch closed = new CountDownLatch(1);

  private AnnouncementListener(String bootstrapServers, String topic, String model,
      Consumer<ModelAnnouncement> onAnnouncement) {
    this.topic = Objects.requireNonNull(topic, "topic");
    this.model = Objects.requireNonNull(model, "model");
    this.onAnnouncement = Objects.requireNonNull(onAnnouncement, "onAnnouncement");
    this.consumer = new KafkaConsumer<>(Map.of(
        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers,
        ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false,
        // An auto-created topic would not be compacted; wait for the announcer to create it.
        ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, false,
        ConsumerConfig.CLIENT_ID_CONFIG, "hiformer-model-listener"),
        new StringDeserializer(), new ByteArrayDeserializer());
    this.thread = Thread.ofPlatform().name("hiformer-models-" + model).daemon().unstarted(this::run);
  }

  /** Starts following announcements of {@code model} on {@code topic}. */
  public static AnnouncementListener start(String bootstrapServers, String topic, String model,
      Consumer<ModelAnnouncement> onAnnouncement) {
    AnnouncementListener listener = new AnnouncementListener(bootstrapServers, topic, model, onAnnouncement);
    listener.thread.start();
    return listener;
  }

  private void run() {
    try {
      List<TopicPartition> partitions = awaitPartitions();
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      while (closed.getCount() > 0) {
        try {
          for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofSeconds(1))) {
            if (model.equals(r.key())) {
              deliver(r);
            }
          }
        } catch (WakeupException e) {
          throw e;
        } catch (RuntimeException e) {
          LOG.log(Level.WARNING, "reading " + topic + " failed, retrying: " + e);
          sleep();
        }
      }
    } catch (WakeupException e) {
      // close() woke the consumer up
    } finally {
      consumer.close();
    }
  }

  private List<TopicPartition> awaitPartitions() {
    while (true) {
      try {
        var infos = consumer.partitionsFor(topic, RETRY);
        if (infos != null && !infos.isEmpty()) {
          return infos.stream().map(p -> new TopicPartition(topic, p.partition())).toList();
        }
      } catch (WakeupException e) {
        throw e;
      } catch (RuntimeException e) {
        LOG.log(Level.DEBUG, "waiting for " + topic + ": " + e);
      }
      sleep();
    }
  }

  private void deliver(ConsumerRecord<String, byte[]> r) {
    String where = topic + "/" + r.partition() + "@" + r.offset();
    ModelAnnouncement a;
    try {
      a = r.value() == null ? null : ModelAnnouncement.parseFrom(r.value());
    } catch (InvalidProtocolBufferException e) {
      LOG.log(Level.WARNING, where + ": not a ModelAnnouncement, skipped: " + e.getMessage());
      return;
    }
    String problem = a == null ? "no value"
        : !a.getModelName().equals(model) ? "model_name '" + a.getModelName() + "' differs from its key"
        : a.getVersion() <= 0 ? "version " + a.getVersion() + " is not positive"
        : !SHA256.matcher(a.getSha256()).matches() ? "sha256 '" + a.getSha256() + "' is not 64 lower-case hex digits"
        : null;
    if (problem != null) {
      LOG.log(Level.WARNING, where + ": invalid announcement of " + model + " skipped: " + problem);
      return;
    }
    try {
      onAnnouncement.accept(a);
    } catch (RuntimeException e) {
      LOG.log(Level.WARNING, where + ": handling " + model + " v" + a.getVersion() + " failed: " + e);
    }
  }

  /** Waits before a retry; throws WakeupException when closed meanwhile. */
  private void sleep() {
    try {
      if (closed.await(RETRY.toMillis(), TimeUnit.MILLISECONDS)) {
        throw new WakeupException();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new WakeupException();
    }
  }

  /** Stops following and waits for the thread to end. */
  @Override
  public void close() {
    closed.countDown();
    consumer.wakeup();
    try {
      thread.join(Duration.ofSeconds(10));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
