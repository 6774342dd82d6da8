package io.hiformer.features.joiner;

import static io.hiformer.features.joiner.Script.outcome;
import static io.hiformer.features.joiner.Script.served;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.MessageLite;
import io.hiformer.features.kafka.TopicNames;
import io.hiformer.proto.Outcome;
import io.hiformer.proto.RankLogEntry;
import io.hiformer.proto.TrainingExample;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.test.TestRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The join rules, fast, through Kafka Streams' test driver (the broker test covers the real thing). */
class JoinProcessorTest {
  static final TopicNames TOPICS = TopicNames.DEFAULT;

  @TempDir Path state;
  TopologyTestDriver driver;
  JoinerCounts counts;
  TestInputTopic<String, byte[]> rankLog;
  TestInputTopic<String, byte[]> outcomes;
  TestOutputTopic<String, byte[]> examples;
  TestOutputTopic<String, byte[]> dlq;

  @BeforeEach
  void start() {
    start(new ExampleJoiner.Options(Duration.ofSeconds(10), Duration.ofSeconds(5), TOPICS));
  }

  void start(ExampleJoiner.Options options) {
    if (driver != null) {
      driver.close();
    }
    counts = new JoinerCounts();
    Properties config = ExampleJoiner.config(
        new ExampleJoiner.Deployment("unused:9092", "joiner-unit", state, 1), options);
    // Records are piped one by one in the order under test: no waiting for the other topic.
    config.put(StreamsConfig.MAX_TASK_IDLE_MS_CONFIG, 0L);
    driver = new TopologyTestDriver(ExampleJoiner.topology(options, counts), config);
    rankLog = driver.createInputTopic(TOPICS.rankLog(), new StringSerializer(), new ByteArraySerializer());
    outcomes = driver.createInputTopic(TOPICS.outcomes(), new StringSerializer(), new ByteArraySerializer());
    examples = driver.createOutputTopic(TOPICS.examples(), new StringDeserializer(), new ByteArrayDeserializer());
    dlq = driver.createOutputTopic(TOPICS.examplesDlq(), new StringDeserializer(), new ByteArrayDeserializer());
  }

  @AfterEach
  void stop() {
    driver.close();
  }

  void serve(RankLogEntry e) {
    rankLog.pipeInput(e.getRequestId(), e.toByteArray());
  }

  void pipe(TestInputTopic<String, byte[]> topic, String key, MessageLite value) {
    topic.pipeInput(key, value.toByteArray());
  }

  List<String> examples() {
    return examples.readValuesToList().stream().map(v -> {
      try {
        return Script.describe(TrainingExample.parseFrom(v));
      } catch (Exception e) {
        throw new AssertionError(e);
      }
    }).toList();
  }

  List<String> deadLetters() {
    return dlq.readRecordsToList().stream().map(r -> header(r, "__streams.errors.message")).toList();
  }

  static String header(TestRecord<String, byte[]> r, String name) {
    return new String(r.headers().lastHeader(name).value(), StandardCharsets.UTF_8);
  }

  @Test
  void failoverSettingsReachTheConsumerAndStreams() {
    Properties config = ExampleJoiner.config(new ExampleJoiner.Deployment("kafka:9092", "j", state, 1,
        new ExampleJoiner.Failover(Duration.ofSeconds(8), Duration.ofSeconds(2), 2)), new ExampleJoiner.Options(Duration.ofSeconds(1),
        Duration.ZERO, TOPICS));
    assertThat(config).containsEntry("consumer.session.timeout.ms", 8_000)
        .containsEntry("consumer.heartbeat.interval.ms", 2_000).containsEntry("num.standby.replicas", 2);
    assertThat(ExampleJoiner.config(new ExampleJoiner.Deployment("kafka:9092", "j", state, 1),
        new ExampleJoiner.Options(Duration.ofSeconds(1), Duration.ZERO, TOPICS)))
        .as("the recommended settings by default").containsEntry("consumer.session.timeout.ms", 10_000)
        .containsEntry("num.standby.replicas", 1);
  }

  @Test
  void outcomesThatArriveBeforeTheirRankLogEntryWaitForItAndLabelItAsInOrder() throws Exception {
    pipe(outcomes, "r1", outcome("r1", "a", "click", 0.4f, 1_000));
    pipe(outcomes, "r1", outcome("r1", "a", "click", 0.9f, 2_000));
    pipe(outcomes, "r1", outcome("r1", "b", "like", 1f, 9_000));
    pipe(outcomes, "r1", outcome("r1", "b", "click", 1f, 10_500));
    pipe(outcomes, "r1", outcome("r1", "z", "click", 1f, 3_000));
    pipe(outcomes, "r1", outcome("r1", "a", "share", 1f, 3_000));
    assertThat(deadLetters()).as("nothing rejected before the entry could come").isEmpty();
    assertThat(counts.outcomesWaiting()).isEqualTo(6);
    serve(served("r1", 0, 2, "a", "b", "c"));
    assertThat(counts.outcomesWaiting()).isZero();
    assertThat(counts.outcomesJoined()).isEqualTo(3);
    List<TestRecord<String, byte[]>> rejected = dlq.readRecordsToList();
    assertThat(rejected).map(r -> header(r, "__streams.errors.message")).containsExactly(
        "after-window: outcome at " + (Script.T0 + 10_500) + " is after the attribution window of request 'r1'"
            + " (served at " + Script.T0 + ", window 10000 ms)",
        "unknown-item: item 'z' is not among the 2 candidates returned for request 'r1'",
        "unknown-task: task 'share' is not a task of ctr v3 [click, like]");
    // As Kafka Streams' own dead letters: the outcome, where it was read, why.
    TestRecord<String, byte[]> z = rejected.get(1);
    assertThat(z.key()).isEqualTo("r1");
    assertThat(Outcome.parseFrom(z.value())).isEqualTo(outcome("r1", "z", "click", 1f, 3_000));
    assertThat(header(z, "__streams.errors.topic")).isEqualTo(TOPICS.outcomes());
    assertThat(header(z, "__streams.errors.partition")).isEqualTo("0");
    assertThat(header(z, "__streams.errors.offset")).isEqualTo("4");

    serve(served("r2", 15_000, 1, "x"));
    assertThat(examples()).containsExactly("r1/a click=0.9 like=0.0", "r1/b click=0.0 like=1.0");
    assertThat(counts.positives()).isEqualTo(2);
  }

  @Test
  void aWaitingOutcomeIsUnknownOnlyOnceNoEntryItCouldBelongToCanArrive() {
    pipe(outcomes, "ghost", outcome("ghost", "a", "click", 1f, 1_000));
    pipe(outcomes, "r1", outcome("r1", "a", "click", 1f, 10_000));
    // r1 served at 0, its entry 4.999 s behind the outcome's time: still in its window and grace.
    serve(served("r1", 0, 1, "a"));
    serve(served("r2", 14_999, 1, "b"));
    assertThat(counts.outcomesJoined()).isEqualTo(1);
    serve(served("r3", 15_999, 1, "c"));
    assertThat(deadLetters()).as("the ghost's outcome at 1 s may still meet an entry until 16 s").isEmpty();
    assertThat(examples()).containsExactly("r1/a click=1.0 like=0.0");
    serve(served("r4", 16_000, 1, "d"));
    assertThat(deadLetters()).containsExactly("unknown-request: no rank-log entry for request 'ghost' came by stream"
        + " time " + (Script.T0 + 16_000) + " (outcome at " + (Script.T0 + 1_000) + " + window 10000 ms + grace"
        + " 5000 ms): never served, its entry lost, or the request closed long ago");
    assertThat(counts.outcomesWaiting()).isZero();
    assertThat(counts.rejected()).containsEntry("unknown-request", 1L);
    // An outcome whose time is already up does not wait.
    pipe(outcomes, "old", outcome("old", "a", "click", 1f, 500));
    assertThat(deadLetters()).singleElement().asString().startsWith("unknown-request: no rank-log entry for request 'old'");
    assertThat(counts.outcomesWaiting()).isZero();
  }

  @Test
  void waitingOutcomesAreBoundedPerRequestAndPerPartition() {
    start(new ExampleJoiner.Options(Duration.ofSeconds(10), Duration.ofSeconds(5), TOPICS, 2, 3));
    pipe(outcomes, "r1", outcome("r1", "a", "click", 1f, 1_000));
    pipe(outcomes, "r1", outcome("r1", "a", "like", 1f, 1_000));
    pipe(outcomes, "r1", outcome("r1", "b", "click", 1f, 1_000));
    pipe(outcomes, "r2", outcome("r2", "a", "click", 1f, 1_000));
    pipe(outcomes, "r3", outcome("r3", "a", "click", 1f, 1_000));
    assertThat(deadLetters()).containsExactly(
        "waiting-full: request 'r1' already has 2 outcomes waiting for its rank-log entry, the most one request"
            + " may have",
        "waiting-full: partition 0 already has 3 outcomes waiting for rank-log entries, the most one partition"
            + " may have");
    serve(served("r1", 0, 2, "a", "b"));
    assertThat(counts.outcomesWaiting()).isEqualTo(1);
    pipe(outcomes, "r3", outcome("r3", "a", "click", 1f, 1_000));
    assertThat(deadLetters()).as("room again").isEmpty();
    serve(served("r9", 30_000, 1, "z"));
    assertThat(examples()).containsExactly("r1/a click=1.0 like=1.0", "r1/b click=0.0 like=0.0");
    assertThat(deadLetters()).map(m -> m.substring(0, m.indexOf(" came"))).containsExactly(
        "unknown-request: no rank-log entry for request 'r2'", "unknown-request: no rank-log entry for request 'r3'");
    assertThat(counts.rejected()).containsEntry("waiting-full", 2L).containsEntry("unknown-request", 2L);
  }

  @Test
  void aRequestClosesWhenStreamTimeReachesWindowPlusGrace() {
    serve(served("r1", 0, 2, "a", "b"));
    pipe(outcomes, "r1", outcome("r1", "a", "click", 0.3f, 1_000));
    pipe(outcomes, "r1", outcome("r1", "a", "click", 0.8f, 2_000));
    pipe(outcomes, "r1", outcome("r1", "a", "click", 0.1f, 3_000));
    serve(served("r2", 14_999, 1, "c"));
    assertThat(examples()).as("open until 15 s").isEmpty();
    serve(served("r3", 15_000, 1, "c"));
    assertThat(examples()).containsExactly("r1/a click=0.8 like=0.0", "r1/b click=0.0 like=0.0");
    assertThat(counts.examples()).isEqualTo(2);
    assertThat(counts.positives()).isEqualTo(1);
    assertThat(counts.requestsClosed()).isEqualTo(1);
  }

  @Test
  void candidatesCutByTopKGiveNoExamplesAndNoLabels() {
    serve(served("r1", 0, 1, "a", "b", "c"));
    pipe(outcomes, "r1", outcome("r1", "b", "click", 1f, 1_000));
    serve(served("r2", 60_000, 1, "z"));
    assertThat(examples()).containsExactly("r1/a click=0.0 like=0.0");
    assertThat(deadLetters()).containsExactly("unknown-item: item 'b' is not among the 1 candidates returned for request 'r1'");
  }

  @Test
  void graceTakesOutcomesDeliveredLateButLaterOnesAreDeadLettered() {
    serve(served("r1", 0, 1, "a"));
    serve(served("r2", 14_000, 1, "b"));
    pipe(outcomes, "r1", outcome("r1", "a", "click", 1f, 9_000));
    serve(served("r3", 16_000, 1, "c"));
    pipe(outcomes, "r1", outcome("r1", "a", "like", 1f, 9_500));
    assertThat(examples()).containsExactly("r1/a click=1.0 like=0.0");
    assertThat(deadLetters()).containsExactly("late: outcome for request 'r1' arrived at stream time "
        + (Script.T0 + 16_000) + ", after its examples were emitted at " + (Script.T0 + 15_000));
  }

  @Test
  void closedRequestsAreForgottenAfterAnotherWindowAndGrace() {
    serve(served("r1", 0, 1, "a"));
    serve(served("r2", 29_999, 1, "b"));
    pipe(outcomes, "r1", outcome("r1", "a", "click", 1f, 1_000));
    serve(served("r3", 30_000, 1, "c"));
    pipe(outcomes, "r1", outcome("r1", "a", "click", 1f, 1_000));
    assertThat(deadLetters()).map(m -> m.split(":")[0]).containsExactly("late", "unknown-request");
  }

  @Test
  void anOutcomeAfterTheWindowIsDeadLetteredEvenWhileTheRequestIsOpen() {
    serve(served("r1", 0, 1, "a"));
    pipe(outcomes, "r1", outcome("r1", "a", "click", 1f, 10_000));
    pipe(outcomes, "r1", outcome("r1", "a", "like", 1f, 10_001));
    serve(served("r2", 60_000, 1, "z"));
    assertThat(examples()).containsExactly("r1/a click=1.0 like=0.0");
    assertThat(deadLetters()).singleElement().asString().startsWith("after-window: outcome at " + (Script.T0 + 10_001));
  }

  @Test
  void invalidDuplicateAndLateRankLogEntriesAreDeadLettered() {
    serve(served("r1", 20_000, 1, "a"));
    serve(served("r1", 20_000, 1, "a"));
    serve(served("r0", 5_000, 1, "a"));
    pipe(rankLog, "other", served("r2", 20_000, 1, "a"));
    serve(served("r3", 20_000, 1, "a").toBuilder().setModelVersion(0).build());
    serve(served("r4", 20_000, 3, "a", "b"));
    serve(served("r5", 20_000, 2, "a", "b").toBuilder().setCandidates(1,
        served("r5", 20_000, 2, "a", "b").getCandidates(1).toBuilder().setPosition(0)).build());
    serve(served("r6", 20_000, 1, "a").toBuilder().setCandidates(0,
        served("r6", 20_000, 1, "a").getCandidates(0).toBuilder().clearInputs()).build());
    assertThat(deadLetters()).containsExactly(
        "duplicate: request 'r1' is already in the join state",
        "late-rank-log: request 'r0' served at " + (Script.T0 + 5_000) + " arrived at stream time "
            + (Script.T0 + 20_000) + ", after its window closed at " + (Script.T0 + 20_000),
        "invalid: rank-log entry of request 'r2' is keyed 'other'; records must be keyed by request id so that a"
            + " request's rank log and outcomes meet",
        "invalid: rank-log entry of request 'r3' does not name its model and a positive version",
        "invalid: rank-log entry of request 'r4' has returned_count 3 for 2 candidates",
        "invalid: rank-log entry of request 'r5' candidates[1] has position 0, not a free one in [0, 2)",
        "invalid: rank-log entry of request 'r6' candidates[0] has no inputs");
    assertThat(counts.requests()).isEqualTo(1);
  }

  @Test
  void aTimeFarAheadOfTheClockNeitherMovesStreamTimeNorJoins() {
    serve(served("r1", 0, 1, "a"));
    long hours = 3_600_000;
    pipe(outcomes, "r1", outcome("r1", "a", "click", 1f, 2 * hours));
    serve(served("r2", 3 * hours, 1, "b"));
    pipe(outcomes, "r1", outcome("r1", "a", "click", 1f, 1_000));
    serve(served("r3", 60_000, 1, "c"));
    assertThat(examples()).containsExactly("r1/a click=1.0 like=0.0");
    assertThat(deadLetters()).map(m -> m.substring(0, m.indexOf(" is stamped"))).containsExactly(
        "invalid: record of r1", "invalid: record of r2");
  }

  @Test
  void invalidOutcomesAreDeadLettered() {
    serve(served("r1", 0, 1, "a"));
    pipe(outcomes, "r1", outcome("r1", "", "click", 1f, 1_000));
    pipe(outcomes, "r1", outcome("r1", "a", "", 1f, 1_000));
    pipe(outcomes, "r1", outcome("r1", "a", "click", Float.NaN, 1_000));
    pipe(outcomes, "r1", outcome("r1", "a", "click", -0.5f, 1_000));
    pipe(outcomes, "r1", outcome("r1", "a", "click", 1f, 1_000).toBuilder().setEventTimeMs(0).build());
    outcomes.pipeInput("r1", (byte[]) null);
    assertThat(deadLetters()).containsExactly(
        "invalid: outcome of request 'r1' has no item_id",
        "invalid: outcome of request 'r1' has no task",
        "invalid: outcome of request 'r1' has value NaN, outside [0, 1]",
        "invalid: outcome of request 'r1' has value -0.5, outside [0, 1]",
        "invalid: outcome of request 'r1' has no event_time_ms",
        "invalid: record of r1 has no value");
    assertThat(counts.rejected()).containsEntry("invalid", 6L);
  }
}
