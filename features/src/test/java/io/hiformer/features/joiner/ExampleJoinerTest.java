package io.hiformer.features.joiner;

import static io.hiformer.features.joiner.Script.T0;
import static io.hiformer.features.joiner.Script.describe;
import static io.hiformer.features.joiner.Script.outcome;
import static io.hiformer.features.joiner.Script.served;
import static io.hiformer.features.kafka.TopicReader.await;
import static io.hiformer.features.kafka.TopicReader.read;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.MessageLite;
import io.hiformer.features.kafka.KafkaTopics;
import io.hiformer.features.kafka.TopicNames;
import io.hiformer.localkafka.KafkaBroker;
import io.hiformer.proto.Outcome;
import io.hiformer.proto.TrainingExample;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.CloseOptions;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The example joiner on a real broker: scripted rank logs and outcomes in, examples and dead letters out. */
class ExampleJoinerTest {
  static final ExampleJoiner.Options WINDOW_10S_GRACE_5S =
      new ExampleJoiner.Options(Duration.ofSeconds(10), Duration.ofSeconds(5), TopicNames.DEFAULT);

  static final long STARTED = System.currentTimeMillis();
  static KafkaBroker kafka;
  static KafkaProducer<String, byte[]> producer;

  @BeforeAll
  static void startKafka() {
    kafka = KafkaBroker.forTests();
    producer = new KafkaProducer<>(Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()),
        new StringSerializer(), new ByteArraySerializer());
  }

  @AfterAll
  static void stopKafka() {
    producer.close();
    kafka.close();
  }

  static ExampleJoiner.Options options(String prefix, int partitions) {
    TopicNames topics = new TopicNames(prefix);
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", kafka.bootstrapServers()))) {
      KafkaTopics.ensure(admin, List.of(KafkaTopics.topic(topics.rankLog(), partitions),
          KafkaTopics.topic(topics.outcomes(), partitions), KafkaTopics.topic(topics.examples(), partitions),
          KafkaTopics.topic(topics.examplesDlq(), 1)));
    }
    return new ExampleJoiner.Options(WINDOW_10S_GRACE_5S.window(), WINDOW_10S_GRACE_5S.grace(), topics);
  }

  static void send(String topic, String key, MessageLite value) {
    send(topic, key, value.toByteArray());
  }

  static void send(String topic, String key, byte[] value) {
    try {
      producer.send(new ProducerRecord<>(topic, key, value)).get();
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }

  static List<TrainingExample> examples(TopicNames topics, int n) throws Exception {
    List<TrainingExample> out = new ArrayList<>();
    for (ConsumerRecord<String, byte[]> r : read(kafka.bootstrapServers(), topics.examples(), n)) {
      TrainingExample e = TrainingExample.parseFrom(r.value());
      assertThat(r.key()).isEqualTo(e.getRequestId());
      assertThat(r.timestamp()).as("example time stamp = when written").isGreaterThanOrEqualTo(STARTED);
      out.add(e);
    }
    return out;
  }

  static String header(ConsumerRecord<String, byte[]> r, String name) {
    var h = r.headers().lastHeader(name);
    return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
  }

  @Test
  void joinsAScriptedSequenceWithLateOutcomes(@TempDir Path state) throws Exception {
    ExampleJoiner.Options options = options("script.", 1);
    TopicNames t = options.topics();
    try (ExampleJoiner joiner = ExampleJoiner.start(
        new ExampleJoiner.Deployment(kafka.bootstrapServers(), "joiner-script", state, 1), options)) {
      JoinerCounts counts = joiner.counts();
      // 1. Three requests; r2 returned only its first candidate (top_k 1), so 'a' was never shown there.
      send(t.rankLog(), "r1", served("r1", 0, 3, "b", "a", "c"));
      send(t.rankLog(), "r2", served("r2", 1_000, 1, "d", "a"));
      send(t.rankLog(), "r3", served("r3", 2_000, 2, "e", "f"));
      send(t.rankLog(), "r3", served("r3", 2_000, 2, "e", "f"));
      await("three requests in the join state", () -> counts.requests() == 3);

      // 2. Outcomes: in the window (r1), after it (r2 click at 12 s: r2's window ends at 11 s), one
      // that happened in the window but arrives after a later one (r2 like at 10.5 s, behind 12 s):
      // the grace keeps r2 open until 16 s, so it still counts. Then records the join cannot use.
      send(t.outcomes(), "r1", outcome("r1", "b", "click", 1f, 3_000));
      send(t.outcomes(), "r1", outcome("r1", "b", "like", 1f, 4_000));
      send(t.outcomes(), "r1", outcome("r1", "a", "click", 0.5f, 5_000));
      send(t.outcomes(), "r1", outcome("r1", "a", "click", 1f, 6_000));
      send(t.outcomes(), "r1", outcome("r1", "a", "click", 0.2f, 6_500));
      send(t.outcomes(), "r2", outcome("r2", "d", "click", 1f, 12_000));
      send(t.outcomes(), "r2", outcome("r2", "d", "like", 1f, 10_500));
      send(t.outcomes(), "r2", outcome("r2", "a", "click", 1f, 2_000));
      send(t.outcomes(), "r3", outcome("r3", "e", "purchase", 1f, 3_000));
      send(t.outcomes(), "r9", outcome("r9", "x", "click", 1f, 3_000));
      send(t.outcomes(), "r3", outcome("r3", "f", "click", 1.5f, 3_000));
      send(t.outcomes(), "r1", outcome("r3", "f", "click", 1f, 3_000));
      send(t.outcomes(), "r3", "not protobuf".getBytes(StandardCharsets.UTF_8));
      await("outcomes processed", () -> counts.outcomesJoined() == 6 && total(counts) == 6
          && counts.outcomesWaiting() == 1);
      assertThat(counts.examples()).as("nothing closes before stream time reaches 15 s").isZero();
      assertThat(counts.rejected().get("unknown-request")).as("r9's rank-log entry may still come until 18 s").isZero();

      // 3. A request served at 20 s moves stream time past every close (r1 15 s, r2 16 s, r3 17 s).
      send(t.rankLog(), "r4", served("r4", 20_000, 1, "g"));
      List<TrainingExample> first = examples(t, 6);
      await("r9's outcome given up at 18 s", () -> counts.rejected().get("unknown-request") == 1);
      assertThat(counts.outcomesWaiting()).isZero();
      assertThat(first).map(Script::describe).containsExactlyInAnyOrder(
          "r1/b click=1.0 like=1.0",
          "r1/a click=1.0 like=0.0",
          "r1/c click=0.0 like=0.0",
          "r2/d click=0.0 like=1.0",
          "r3/e click=0.0 like=0.0",
          "r3/f click=0.0 like=0.0");
      TrainingExample r1a = first.stream().filter(e -> describe(e).startsWith("r1/a")).findFirst().orElseThrow();
      assertThat(r1a.getInputs()).isEqualTo(Script.inputs("r1", "a"));
      assertThat(r1a.getPosition()).isEqualTo(1);
      assertThat(r1a.getServedTimeMs()).isEqualTo(T0);
      assertThat(r1a.getModelName()).isEqualTo("ctr");
      assertThat(r1a.getModelVersion()).isEqualTo(3);
      assertThat(r1a.getUserId()).isEqualTo("u-r1");
      assertThat(r1a.getArm()).isEqualTo("default");
      assertThat(counts.positives()).isEqualTo(3);

      // 4. Late: r1/c clicked at 9 s (inside its window) but delivered after r1 closed. An outcome
      // with a later time first, so the late one is behind it in the partition.
      send(t.outcomes(), "r4", outcome("r4", "g", "click", 1f, 21_000));
      send(t.outcomes(), "r1", outcome("r1", "c", "click", 1f, 9_000));
      await("the late outcome dead-lettered", () -> counts.rejected().get("late") == 1);

      // 5. A request at 60 s closes r4 (at 35 s); r1/c stays a negative, nothing is emitted twice.
      send(t.rankLog(), "r5", served("r5", 60_000, 1, "h"));
      await("r4 closed", () -> counts.examples() == 7);
      List<TrainingExample> all = examples(t, 7);
      assertThat(examples(t, -1)).as("everything committed").hasSize(7);
      assertThat(all).map(Script::describe).doesNotHaveDuplicates()
          .contains("r1/c click=0.0 like=0.0", "r4/g click=1.0 like=0.0");

      // Every unusable record is in the dead-letter topic, raw, with the reason.
      List<ConsumerRecord<String, byte[]>> dlq = read(kafka.bootstrapServers(), t.examplesDlq(), 9);
      // (A record that does not parse is dead-lettered when fetched, ahead of those processed before it.)
      assertThat(dlq).map(r -> header(r, "__streams.errors.message").split(":")[0]).containsExactlyInAnyOrder(
          "duplicate", "after-window", "unknown-item", "unknown-task", "unknown-request", "invalid", "invalid",
          "not a Outcome", "late");
      assertThat(dlq).allSatisfy(r -> assertThat(header(r, "__streams.errors.topic")).isIn(t.rankLog(), t.outcomes()));
      assertThat(Outcome.parseFrom(dlq.getLast().value())).isEqualTo(outcome("r1", "c", "click", 1f, 9_000));
      assertThat(header(dlq.get(0), "__streams.errors.message")).startsWith("duplicate: request 'r3'");
      assertThat(header(dlq.get(1), "__streams.errors.message"))
          .isEqualTo("after-window: outcome at " + (T0 + 12_000) + " is after the attribution window of request 'r2'"
              + " (served at " + (T0 + 1_000) + ", window 10000 ms)");
      assertThat(counts.rejected()).containsEntry("late", 1L).containsEntry("after-window", 1L)
          .containsEntry("invalid", 2L).containsEntry("duplicate", 1L);
    }
  }

  @Test
  void moreInstancesShareThePartitionsAndTakeOverStateExactlyOnce(@TempDir Path state) throws Exception {
    ExampleJoiner.Options options = options("scale.", 2);
    TopicNames t = options.topics();
    var first = new ExampleJoiner.Deployment(kafka.bootstrapServers(), "joiner-scale", state.resolve("a"), 1);
    var second = new ExampleJoiner.Deployment(kafka.bootstrapServers(), "joiner-scale", state.resolve("b"), 1);
    List<String> expected = new ArrayList<>();
    try (ExampleJoiner b = ExampleJoiner.start(second, options)) {
      try (ExampleJoiner a = ExampleJoiner.start(first, options)) {
        await("both instances running with a partition each",
            () -> activeTasks(a) == 1 && activeTasks(b) == 1);
        for (int i = 0; i < 20; i++) {
          String id = "q" + i;
          send(t.rankLog(), id, served(id, i * 100L, 2, "a", "b"));
          if (i % 2 == 0) {
            send(t.outcomes(), id, outcome(id, "a", "click", 1f, i * 100L + 500));
          }
          expected.add(id + "/a click=" + (i % 2 == 0 ? "1.0" : "0.0") + " like=0.0");
          expected.add(id + "/b click=0.0 like=0.0");
        }
        await("the requests and outcomes joined on both instances",
            () -> a.counts().requests() + b.counts().requests() == 20
                && a.counts().outcomesJoined() + b.counts().outcomesJoined() == 10);
        assertThat(a.counts().requests()).isPositive();
        assertThat(b.counts().requests()).isPositive();
      }
      // The first instance left: the second takes its partition, restoring the open requests from
      // the changelog, and closes them when a later request reaches each partition.
      await("one instance with both partitions", () -> activeTasks(b) == 2);
      for (int p = 0; p < 2; ) {
        String id = "tick" + p + "-" + System.nanoTime();
        var metadata = producer.send(new ProducerRecord<>(t.rankLog(), id,
            served(id, 60_000, 1, "z").toByteArray())).get();
        p += metadata.partition() == p ? 1 : 0;
      }
      List<TrainingExample> out = examples(t, 40);
      assertThat(out).map(Script::describe).containsExactlyInAnyOrderElementsOf(expected);
      assertThat(examples(t, -1)).as("nothing emitted twice").hasSize(40);
    }
  }

  @Test
  void aKilledInstancesPartitionsMoveWithinTheSessionTimeoutAndFinishExactlyOnce(@TempDir Path state)
      throws Exception {
    ExampleJoiner.Options options = options("killed.", 2);
    TopicNames t = options.topics();
    var first = new ExampleJoiner.Deployment(kafka.bootstrapServers(), "joiner-killed", state.resolve("a"), 1);
    var second = new ExampleJoiner.Deployment(kafka.bootstrapServers(), "joiner-killed", state.resolve("b"), 1);
    List<String> expected = new ArrayList<>();
    try (ExampleJoiner b = ExampleJoiner.start(second, options)) {
      ExampleJoiner a = ExampleJoiner.start(first, options);
      await("both instances running with a partition each", () -> activeTasks(a) == 1 && activeTasks(b) == 1);
      for (int i = 0; i < 10; i++) {
        String id = "k" + i;
        send(t.rankLog(), id, served(id, i * 100L, 1, "a"));
        send(t.outcomes(), id, outcome(id, "a", "click", 1f, i * 100L + 500));
        expected.add(id + "/a click=1.0 like=0.0");
      }
      await("joined on both instances", () -> a.counts().outcomesJoined() + b.counts().outcomesJoined() == 10);
      // Gone without leaving the group, as a killed process: its partition waits for the session
      // timeout (10 s by the recommended settings, not Kafka's 45 s), then moves.
      long killed = System.nanoTime();
      a.streams().close(CloseOptions.timeout(Duration.ofSeconds(30))
          .withGroupMembershipOperation(CloseOptions.GroupMembershipOperation.REMAIN_IN_GROUP));
      await("the other instance has both partitions", () -> activeTasks(b) == 2);
      long movedMs = (System.nanoTime() - killed) / 1_000_000;
      assertThat(movedMs).as("moved after %d ms", movedMs).isLessThan(30_000);
      for (int p = 0; p < 2; ) {
        String id = "tick" + p + "-" + System.nanoTime();
        var metadata = producer.send(new ProducerRecord<>(t.rankLog(), id,
            served(id, 60_000, 1, "z").toByteArray())).get();
        p += metadata.partition() == p ? 1 : 0;
      }
      assertThat(examples(t, 10)).map(Script::describe).containsExactlyInAnyOrderElementsOf(expected);
      assertThat(examples(t, -1)).as("nothing emitted twice").hasSize(10);
    }
  }

  @Test
  void rankLogEntriesBehindTheirOutcomesLabelExactlyAsInOrder(@TempDir Path state) throws Exception {
    ExampleJoiner.Options options = options("delayed.", 3);
    TopicNames t = options.topics();
    // Requests served every 0.5 s with outcomes inside their windows; each rank-log entry arrives
    // after its request's last outcome, up to 3.6 s later in event time (the grace is 5 s; records
    // are sent a second at a time, so up to a second more may be processed before it).
    record Arrival(long at, String topic, String key, MessageLite value) {}
    List<Arrival> arrivals = new ArrayList<>();
    List<String> expected = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      String id = "d" + i;
      long served = i * 500L;
      List<Outcome> outcomes = switch (i % 4) {
        case 0 -> List.of(outcome(id, "a", "click", 1f, served + 1_000));
        case 1 -> List.of(outcome(id, "a", "click", 0.5f, served + 3_000), outcome(id, "b", "like", 1f, served + 9_500),
            outcome(id, "a", "click", 0.25f, served + 6_000));
        case 2 -> List.of();
        default -> List.of(outcome(id, "b", "click", 1f, served + 10_000), outcome(id, "b", "like", 0.5f, served));
      };
      long last = served;
      for (Outcome o : outcomes) {
        arrivals.add(new Arrival(o.getEventTimeMs() - T0, t.outcomes(), id, o));
        last = Math.max(last, o.getEventTimeMs() - T0);
      }
      arrivals.add(new Arrival(last + (i % 10) * 400, t.rankLog(), id, served(id, served, 2, "a", "b", "c")));
      expected.addAll(switch (i % 4) {
        case 0 -> List.of(id + "/a click=1.0 like=0.0", id + "/b click=0.0 like=0.0");
        case 1 -> List.of(id + "/a click=0.5 like=0.0", id + "/b click=0.0 like=1.0");
        case 2 -> List.of(id + "/a click=0.0 like=0.0", id + "/b click=0.0 like=0.0");
        default -> List.of(id + "/a click=0.0 like=0.0", id + "/b click=1.0 like=0.5");
      });
    }
    // Outcomes of requests that never come.
    for (int g = 0; g < 5; g++) {
      arrivals.add(new Arrival(g * 3_000L, t.outcomes(), "ghost" + g, outcome("ghost" + g, "a", "click", 1f, g * 3_000L)));
    }
    arrivals.sort(java.util.Comparator.comparingLong(Arrival::at));

    try (Admin admin = Admin.create(Map.of("bootstrap.servers", kafka.bootstrapServers()));
        ExampleJoiner joiner = ExampleJoiner.start(
            new ExampleJoiner.Deployment(kafka.bootstrapServers(), "joiner-delayed", state, 1), options)) {
      // In arrival order, a second of event time at a time, each second processed before the next
      // is sent: so the joiner sees the outcomes first, whatever order it would pick among buffered records.
      int sent = 0;
      for (int from = 0; from < arrivals.size(); ) {
        long second = arrivals.get(from).at() / 1_000;
        int to = from;
        while (to < arrivals.size() && arrivals.get(to).at() / 1_000 == second) {
          Arrival a = arrivals.get(to++);
          send(a.topic(), a.key(), a.value());
        }
        sent += to - from;
        from = to;
        int total = sent;
        await("records up to " + second + " s processed", () -> committed(admin, "joiner-delayed", t) == total);
      }
      for (int p = 0; p < 3; ) {
        String id = "tick" + p + "-" + System.nanoTime();
        var metadata = producer.send(new ProducerRecord<>(t.rankLog(), id,
            served(id, 60_000, 1, "z").toByteArray())).get();
        p += metadata.partition() == p ? 1 : 0;
      }
      assertThat(examples(t, expected.size())).map(Script::describe).containsExactlyInAnyOrderElementsOf(expected);
      List<ConsumerRecord<String, byte[]>> dlq = read(kafka.bootstrapServers(), t.examplesDlq(), 5);
      assertThat(dlq).map(ConsumerRecord::key).containsExactlyInAnyOrder("ghost0", "ghost1", "ghost2", "ghost3", "ghost4");
      assertThat(dlq).allSatisfy(r -> {
        assertThat(header(r, "__streams.errors.message")).startsWith("unknown-request: no rank-log entry for request '"
            + r.key() + "'");
        assertThat(header(r, "__streams.errors.topic")).isEqualTo(t.outcomes());
      });
      assertThat(read(kafka.bootstrapServers(), t.examplesDlq(), -1)).as("nothing else dead-lettered").hasSize(5);
      assertThat(examples(t, -1)).as("nothing twice").hasSize(expected.size());
      assertThat(joiner.counts().outcomesWaiting()).isZero();
    }
  }

  /** Offsets the joiner committed on the rank-log and outcomes topics, summed: the records it has processed. */
  static long committed(Admin admin, String group, TopicNames t) {
    try {
      return admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get().entrySet().stream()
          .filter(e -> e.getKey().topic().equals(t.rankLog()) || e.getKey().topic().equals(t.outcomes()))
          .mapToLong(e -> e.getValue() == null ? 0 : e.getValue().offset()).sum();
    } catch (Exception e) {
      return -1;
    }
  }

  static int activeTasks(ExampleJoiner joiner) {
    return joiner.streams().metadataForLocalThreads().stream().mapToInt(m -> m.activeTasks().size()).sum();
  }

  static long total(JoinerCounts counts) {
    return counts.rejected().values().stream().mapToLong(Long::longValue).sum();
  }
}
