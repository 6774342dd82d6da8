package io.hiformer.training;

import static org.assertj.core.api.Assertions.assertThat;

import io.hiformer.localkafka.KafkaBroker;
import io.hiformer.model.ModelRegistry;
import io.hiformer.proto.TrainingExample;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Exactly-once training under failure: the continuous trainer runs as a real child JVM, is killed
 * (SIGKILL) twice while it trains on a topic still being written, the broker is restarted under
 * it, and a last run catches up. The committed checkpoints' ledger then shows every offset of
 * the topic in exactly one committed generation, and the examples counted trained and held out
 * are exactly the topic's.
 */
@Timeout(value = 300, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class FollowKillTest {
  private static final int CHUNK = 150;

  @TempDir
  Path dir;

  private int produced;

  @Test
  void killedTrainerAndRestartedBrokerTrainEveryExampleExactlyOnce() throws Exception {
    Path checkpoints = dir.resolve("checkpoints");
    ModelRegistry registry = FollowFixture.registry(dir.resolve("registry"));
    try (KafkaBroker kafka = KafkaBroker.forTests()) {
      String bootstrap = kafka.bootstrapServers();
      FollowFixture.createTopic(bootstrap, 2);

      // 1. Killed while it trains on a stream still being written.
      Process first = start(bootstrap, registry, checkpoints, "1");
      produceUntil(bootstrap, () -> committedRecords(checkpoints) > 0, first);
      produceChunks(bootstrap, 3);
      kill(first);

      // 2. The broker restarts under a running trainer, then the trainer is killed again mid-stream.
      long before = committedRecords(checkpoints);
      Process second = start(bootstrap, registry, checkpoints, "2");
      produceUntil(bootstrap, () -> committedRecords(checkpoints) > before, second);
      kafka.stop();
      Thread.sleep(1000);
      kafka.start();
      long restarted = committedRecords(checkpoints);
      produceUntil(bootstrap, () -> committedRecords(checkpoints) > restarted, second);
      produceChunks(bootstrap, 3);
      kill(second);

      // 3. A last run catches up and stops gracefully (SIGTERM: a last checkpoint).
      Process third = start(bootstrap, registry, checkpoints, "3");
      Map<Integer, Long> end = endOffsets(bootstrap);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
      while (!committedTo(checkpoints).equals(end) && third.isAlive() && System.nanoTime() < deadline) {
        Thread.sleep(100);
      }
      third.destroy();
      assertThat(third.waitFor(60, TimeUnit.SECONDS)).isTrue();
      assertThat(committedTo(checkpoints)).as(log()).isEqualTo(end);

      // Every offset of every partition is in exactly one committed generation's range.
      List<FollowCheckpoint.Entry> ledger = FollowCheckpoint.ledger(checkpoints);
      Map<Integer, List<FollowCheckpoint.Entry>> byPartition = new TreeMap<>();
      for (FollowCheckpoint.Entry e : ledger) {
        byPartition.computeIfAbsent(e.partition(), p -> new ArrayList<>()).add(e);
      }
      assertThat(byPartition.keySet()).containsExactly(0, 1);
      for (var p : byPartition.entrySet()) {
        List<FollowCheckpoint.Entry> ranges = new ArrayList<>(p.getValue());
        ranges.sort(Comparator.comparingLong(FollowCheckpoint.Entry::generation));
        long next = 0;
        for (FollowCheckpoint.Entry e : ranges) {
          assertThat(e.from()).as("partition %d, generation %d: no gap, no overlap", p.getKey(), e.generation())
              .isEqualTo(next);
          assertThat(e.to()).isGreaterThan(e.from());
          assertThat(e.trained() + e.heldOut() + e.skipped()).as("each record counted once").isEqualTo(e.to() - e.from());
          next = e.to();
        }
        assertThat(next).isEqualTo(end.get(p.getKey()));
      }
      long heldOut = 0;
      for (int i = 0; i < produced; i++) {
        heldOut += Holdout.heldOut("r" + i, 0.1) ? 1 : 0;
      }
      assertThat(ledger.stream().mapToLong(FollowCheckpoint.Entry::skipped).sum()).isZero();
      assertThat(ledger.stream().mapToLong(FollowCheckpoint.Entry::heldOut).sum()).isEqualTo(heldOut);
      assertThat(ledger.stream().mapToLong(FollowCheckpoint.Entry::trained).sum()).isEqualTo(produced - heldOut);
      // The trainer was really killed between checkpoints and resumed twice; it published and promoted.
      assertThat(log()).contains("resumed from").containsPattern("(?s)resumed from.*resumed from");
      assertThat(registry.versions(FollowFixture.MODEL).size()).isGreaterThan(1);
      assertThat(registry.aliases(FollowFixture.MODEL).get("production")).isGreaterThan(1L);
    }
  }

  private Process start(String bootstrap, ModelRegistry registry, Path checkpoints, String run) throws Exception {
    return new ProcessBuilder(ProcessHandle.current().info().command().orElseThrow(),
        "-cp", System.getProperty("java.class.path"), FollowChild.class.getName(), bootstrap,
        registry.root().toString(), checkpoints.toString(), "1000")
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("child.log").toFile()))
        .start();
  }

  private static void kill(Process p) throws InterruptedException {
    p.destroyForcibly();
    assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
  }

  private String log() throws Exception {
    Path file = dir.resolve("child.log");
    return Files.exists(file) ? Files.readString(file) : "";
  }

  /** Writes chunks of examples until {@code done} holds (at most 2 minutes, while {@code child} lives). */
  private void produceUntil(String bootstrap, BooleanSupplier done, Process child) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (!done.getAsBoolean()) {
      assertThat(child.isAlive()).as("the trainer runs; its log:%n%s", log()).isTrue();
      assertThat(System.nanoTime()).as("the trainer made progress in time; its log:%n%s", log()).isLessThan(deadline);
      produceChunks(bootstrap, 1);
      Thread.sleep(100);
    }
  }

  private void produceChunks(String bootstrap, int chunks) {
    for (int c = 0; c < chunks; c++) {
      List<TrainingExample> examples = FollowFixture.examples(produced, CHUNK, produced);
      FollowFixture.produce(bootstrap, examples);
      produced += CHUNK;
    }
  }

  /** Records accounted for by the committed generations. */
  private static long committedRecords(Path checkpoints) {
    return committedTo(checkpoints).values().stream().mapToLong(Long::longValue).sum();
  }

  /** The committed offset of each partition, from the ledger. */
  private static Map<Integer, Long> committedTo(Path checkpoints) {
    Map<Integer, Long> to = new TreeMap<>();
    try {
      if (Files.exists(checkpoints)) {
        for (FollowCheckpoint.Entry e : FollowCheckpoint.ledger(checkpoints)) {
          to.merge(e.partition(), e.to(), Math::max);
        }
      }
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    return to;
  }

  private static Map<Integer, Long> endOffsets(String bootstrap) {
    try (var consumer = new KafkaConsumer<>(Map.<String, Object>of("bootstrap.servers", bootstrap),
        new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      List<TopicPartition> tps = List.of(new TopicPartition(FollowFixture.TOPIC, 0),
          new TopicPartition(FollowFixture.TOPIC, 1));
      Map<Integer, Long> out = new TreeMap<>();
      consumer.endOffsets(tps).forEach((tp, o) -> out.put(tp.partition(), o));
      return out;
    }
  }
}
