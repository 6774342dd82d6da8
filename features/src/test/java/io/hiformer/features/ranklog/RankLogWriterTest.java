package io.hiformer.features.ranklog;

import static io.hiformer.features.kafka.TopicReader.await;
import static io.hiformer.features.kafka.TopicReader.read;
import static org.assertj.core.api.Assertions.assertThat;

import io.hiformer.features.kafka.KafkaTopics;
import io.hiformer.localkafka.KafkaBroker;
import io.hiformer.proto.LoggedCandidate;
import io.hiformer.proto.ModelInputs;
import io.hiformer.proto.RankLogEntry;
import io.hiformer.proto.TaskScore;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The rank-log writer on a real broker (one for the class), running and stopped. */
class RankLogWriterTest {
  static KafkaBroker kafka;

  @BeforeAll
  static void startKafka() {
    kafka = KafkaBroker.forTests();
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", kafka.bootstrapServers()))) {
      KafkaTopics.ensure(admin, List.of(KafkaTopics.topic("rank-log", 1), KafkaTopics.topic("rank-log-outage", 1),
          KafkaTopics.topic("rank-log-late", 1),
          KafkaTopics.topic("rank-log-close", 1)));
    }
  }

  @AfterAll
  static void stopKafka() {
    kafka.close();
  }

  static RankLogEntry entry(String id, long servedTime, int candidates) {
    RankLogEntry.Builder e = RankLogEntry.newBuilder().setRequestId(id).setUserId("u").setModelName("ctr")
        .setModelVersion(1).setArm("default").setServedTimeMs(servedTime).setReturnedCount(candidates);
    for (int i = 0; i < candidates; i++) {
      e.addCandidates(LoggedCandidate.newBuilder().setItemId("i" + i).setPosition(i).setScore(0.5f)
          .setInputs(ModelInputs.newBuilder().addCategoricalIds(i).addCategoricalIds(7).addDense(0.1f * i))
          .addTaskScores(TaskScore.newBuilder().setTask("click").setProbability(0.5f)));
    }
    return e.build();
  }

  @Test
  void writesEntriesKeyedByRequestIdAndStampedWithTheServingTime() throws Exception {
    long now = System.currentTimeMillis();
    try (RankLogWriter writer = RankLogWriter.start(kafka.bootstrapServers(), "rank-log", RankLogWriter.Options.DEFAULTS)) {
      for (int i = 0; i < 10; i++) {
        assertThat(writer.offer(entry("r" + i, now + i, 3))).isTrue();
      }
      await("ten entries acknowledged", () -> writer.sent() == 10);
      List<ConsumerRecord<String, byte[]>> records = read(kafka.bootstrapServers(), "rank-log", 10);
      assertThat(records).hasSize(10);
      for (int i = 0; i < 10; i++) {
        ConsumerRecord<String, byte[]> r = records.get(i);
        assertThat(r.key()).isEqualTo("r" + i);
        assertThat(r.timestamp()).isEqualTo(now + i);
        assertThat(RankLogEntry.parseFrom(r.value())).isEqualTo(entry("r" + i, now + i, 3));
      }
      assertThat(writer.dropped()).isZero();
      assertThat(writer.failed()).isZero();
      assertThat(writer.queuedBytes()).isZero();
    }
  }

  @Test
  void aStoppedBrokerNeverBlocksOffersAndEveryLossIsCounted() throws InterruptedException {
    RankLogEntry sample = entry("r", 1, 20);
    RankLogWriter.Options options = RankLogWriter.Options.DEFAULTS
        .withCapacityBytes(2L * sample.getSerializedSize())
        .withProducer(Map.of("buffer.memory", 32 * 1024, "batch.size", 4096, "linger.ms", 0, "max.block.ms", 3_000,
            "request.timeout.ms", 500, "delivery.timeout.ms", 1000, "reconnect.backoff.max.ms", 200));
    try (RankLogWriter writer = RankLogWriter.start(kafka.bootstrapServers(), "rank-log-outage", options)) {
      long now = System.currentTimeMillis();
      writer.offer(entry("warm-up", now, 20));
      await("the first entry acknowledged", () -> writer.sent() == 1);

      int offered = 500;
      List<RankLogEntry> entries = new ArrayList<>();
      for (int i = 0; i < offered; i++) {
        entries.add(entry("down" + i, now + i, 20));
      }
      kafka.stop();
      try {
        long start = System.nanoTime();
        entries.forEach(writer::offer);
        long elapsedMs = (System.nanoTime() - start) / 1_000_000;
        // The producer's buffer fills after ~30 entries, and every hand-over then blocks the sender
        // for max.block.ms (3 s): an offer that waited on the sender would take that long.
        assertThat(elapsedMs).as("500 offers with the broker down took %d ms", elapsedMs).isLessThan(1_500);
        assertThat(writer.dropped()).as("dropped at the full buffer").isPositive();
      } finally {
        kafka.start();
      }
      // What the producer took is delivered or, past its delivery timeout, failed; what waited in
      // the writer's buffer is handed over once the producer has room again.
      await("every entry sent, dropped or failed",
          () -> writer.sent() + writer.dropped() + writer.failed() == offered + 1);
      assertThat(writer.queuedBytes()).isZero();
      long sentBefore = writer.sent();
      for (int accepted = 0; accepted < 5; ) { // the small buffer may still be full
        if (writer.offer(entry("back" + accepted, System.currentTimeMillis(), 20))) {
          accepted++;
        } else {
          Thread.sleep(50);
        }
      }
      await("entries acknowledged after the broker is back", () -> writer.sent() == sentBefore + 5);
    }
  }

  @Test
  void entriesTheProducerCannotTakeWaitInTheBufferInsteadOfFailing() throws InterruptedException {
    // A writer started while the broker is away has no metadata: each hand-over to the producer
    // times out after max.block.ms, as while a restarted broker reloads.
    RankLogWriter.Options options = RankLogWriter.Options.DEFAULTS.withProducer(Map.of("max.block.ms", 200));
    kafka.stop();
    RankLogWriter writer;
    long now = System.currentTimeMillis();
    try {
      writer = RankLogWriter.start(kafka.bootstrapServers(), "rank-log-late", options);
      for (int i = 0; i < 5; i++) {
        assertThat(writer.offer(entry("w" + i, now + i, 3))).isTrue();
      }
      Thread.sleep(3_000);
      assertThat(writer.failed()).as("refused hand-overs are not failures").isZero();
      assertThat(writer.queuedBytes()).as("still waiting").isPositive();
    } finally {
      kafka.start();
    }
    try (writer) {
      await("all five delivered once the broker is back", () -> writer.sent() == 5);
      assertThat(read(kafka.bootstrapServers(), "rank-log-late", 5)).map(ConsumerRecord::key)
          .containsExactly("w0", "w1", "w2", "w3", "w4");
      assertThat(writer.failed()).isZero();
      assertThat(writer.dropped()).isZero();
    }
  }

  @Test
  void closingSendsWhatIsBufferedAndRefusesMore() {
    RankLogWriter writer = RankLogWriter.start(kafka.bootstrapServers(), "rank-log-close", RankLogWriter.Options.DEFAULTS);
    for (int i = 0; i < 100; i++) {
      writer.offer(entry("r" + i, System.currentTimeMillis(), 5));
    }
    writer.close(Duration.ofSeconds(20));
    assertThat(writer.sent()).isEqualTo(100);
    assertThat(writer.offer(entry("late", 1, 1))).isFalse();
    assertThat(writer.dropped()).isEqualTo(1);
  }
}
