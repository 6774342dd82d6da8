package io.hiformer.features.data;

import static io.hiformer.features.data.ExampleFilesTest.CONFIG;
import static io.hiformer.features.data.ExampleFilesTest.example;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hiformer.features.BadRowException;
import io.hiformer.features.BadRows;
import io.hiformer.features.data.ExampleTopic.Bound;
import io.hiformer.features.kafka.KafkaTopics;
import io.hiformer.localkafka.KafkaBroker;
import io.hiformer.proto.TrainingExample;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Reading a range of an examples topic on a real broker. */
class ExampleTopicTest {
  static long T0;
  static final String TOPIC = "examples-range";
  static KafkaBroker kafka;

  /**
   * Partition p holds 10 examples "rp-i" at T0 + i seconds, each in its own transaction (offsets
   * 2i, the marker at 2i + 1); r0-3's is aborted. T0 is a minute ahead, after every transaction
   * marker's (wall-clock) time stamp, so the time index finds the records, not the markers.
   */
  @BeforeAll
  static void fill() {
    kafka = KafkaBroker.forTests();
    T0 = System.currentTimeMillis() / 1000 * 1000 + 60_000;
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", kafka.bootstrapServers()))) {
      KafkaTopics.ensure(admin, List.of(KafkaTopics.topic(TOPIC, 2)));
    }
    try (var producer = new KafkaProducer<>(Map.<String, Object>of(
        ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
        ProducerConfig.TRANSACTIONAL_ID_CONFIG, "examples-range-test"),
        new StringSerializer(), new ByteArraySerializer())) {
      producer.initTransactions();
      for (int p = 0; p < 2; p++) {
        for (int i = 0; i < 10; i++) {
          int user = p == 0 ? i : 5 + i / 2; // partition 1: users 5..9, two each (vocab is 10)
          producer.beginTransaction();
          producer.send(new ProducerRecord<>(TOPIC, p, T0 + i * 1000L, "r" + p + "-" + i,
              example(user, i, true, 1).toBuilder().setRequestId("r" + p + "-" + i).build().toByteArray()));
          if (p == 0 && i == 3) {
            producer.flush(); // in the log, then aborted
            producer.abortTransaction();
          } else {
            producer.commitTransaction();
          }
        }
      }
      producer.beginTransaction();
      producer.send(new ProducerRecord<>(TOPIC, 1, T0 + 10_000, "bad", example(12, 0, true, 1).toByteArray()));
      producer.send(new ProducerRecord<>(TOPIC, 1, T0 + 10_001, "garbage", new byte[] {(byte) 0xff, 1}));
      producer.commitTransaction();
    }
  }

  @AfterAll
  static void stop() {
    kafka.close();
  }

  static List<String> read(ExampleTopic.Range range, BadRows bad) {
    List<String> ids = new ArrayList<>();
    ExampleTopic.read(kafka.bootstrapServers(), range, e -> true, new ExampleRows(CONFIG), bad)
        .forEach(e -> ids.add(e.getRequestId()));
    return ids;
  }

  static ExampleTopic.Range resolve(String from, String to) {
    return ExampleTopic.resolve(kafka.bootstrapServers(), TOPIC, Bound.parse(from), Bound.parse(to));
  }

  @Test
  void readsTheCommittedExamplesOfTheWholeTopicAndStops() {
    BadRows bad = BadRows.tolerate(5);
    List<String> all = read(resolve("beginning", "end"), bad);
    assertThat(all).hasSize(19).doesNotContain("r0-3").contains("r0-0", "r0-9", "r1-0", "r1-9");
    assertThat(all.stream().filter(id -> id.startsWith("r0"))).isSorted();
    assertThat(bad.count()).isEqualTo(2);
    assertThat(bad.first()).hasMessage(TOPIC + "/1@20: training example field 'user' id 12 is outside [0, 10)");
  }

  @Test
  void aTimeRangeTakesTheRecordsStampedInIt() {
    ExampleTopic.Range range = resolve(Instant.ofEpochMilli(T0 + 2_000).toString(),
        Instant.ofEpochMilli(T0 + 5_000).toString());
    assertThat(read(range, BadRows.none())).containsExactlyInAnyOrder("r0-2", "r0-4", "r1-2", "r1-3", "r1-4");
  }

  @Test
  void aResolvedRangeGivesTheSameExamplesAgainAsOffsets() {
    ExampleTopic.Range range = resolve(Instant.ofEpochMilli(T0 + 6_000).toString(), "end");
    ExampleTopic.Range again = resolve(range.from().toString(), range.to().toString());
    assertThat(again).isEqualTo(range);
    assertThat(range.toString()).isEqualTo(TOPIC + " from 0:12,1:12 to 0:20,1:23");
    assertThat(read(again, BadRows.tolerate(2))).containsExactly("r0-6", "r0-7", "r0-8", "r0-9",
        "r1-6", "r1-7", "r1-8", "r1-9");
  }

  @Test
  void selectSkipsExamplesBeforeTheyAreChecked() {
    BadRows bad = BadRows.none();
    List<TrainingExample> kept = new ArrayList<>();
    ExampleTopic.read(kafka.bootstrapServers(), resolve("beginning", "end"),
        e -> e.getRequestId().startsWith("r1-") && e.getInputs().getCategoricalIds(0) < 10,
        new ExampleRows(CONFIG), BadRows.tolerate(1)).forEach(kept::add);
    assertThat(kept).hasSize(10);
    assertThat(bad.count()).isZero();
  }

  @Test
  void aBadExampleStopsTheReadUnlessTolerated() {
    assertThatThrownBy(() -> read(resolve("beginning", "end"), BadRows.none()))
        .isInstanceOf(BadRowException.class).hasMessageContaining(TOPIC + "/1@20");
  }

  @Test
  void boundsThatDoNotFitTheTopicAreNamed() {
    assertThatThrownBy(() -> resolve("0:0", "end")).hasMessage(
        "--from 0:0 gives no offset for partition 1 of " + TOPIC + ", which has 2 partitions");
    assertThatThrownBy(() -> resolve("0:0,1:0", "0:5,1:99")).hasMessageStartingWith(
        "--to offset 99 of partition 1 of " + TOPIC + " is outside [0, 23]");
    assertThatThrownBy(() -> resolve("0:0,1:0,2:0", "end")).hasMessageContaining("names partitions that");
    assertThatThrownBy(() -> Bound.parse("yesterday")).hasMessageStartingWith("'yesterday' is not a range bound");
    assertThatThrownBy(() -> Bound.parse("0:1,0:2")).hasMessage("'0:1,0:2' names partition 0 twice");
    assertThatThrownBy(() -> ExampleTopic.resolve(kafka.bootstrapServers(), "no-such-topic", new Bound.Beginning(),
        new Bound.End())).hasMessage("topic no-such-topic does not exist");
  }
}
