package io.hiformer.localkafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

class LocalKafkaTest {

  @Test
  void theBrokerAndControllerPortsAreNeverTheSame() {
    // One CI run got the same port twice when each was probed and released in turn.
    for (int i = 0; i < 2000; i++) {
      int[] ports = LocalKafka.freePorts(2);
      assertThat(ports[0]).isNotEqualTo(ports[1]).isPositive();
      assertThat(ports[1]).isPositive();
    }
  }

  @Test
  void recordsSurviveABrokerRestartAtTheSameAddress() throws Exception {
    try (KafkaBroker kafka = KafkaBroker.forTests()) {
      try (Admin admin = Admin.create(Map.of("bootstrap.servers", kafka.bootstrapServers()))) {
        admin.createTopics(List.of(new NewTopic("t", 2, (short) 1))).all().get();
      }
      try (var producer = producer(kafka)) {
        for (int i = 0; i < 10; i++) {
          producer.send(new ProducerRecord<>("t", "k" + i, "before-" + i)).get();
        }
        kafka.stop();
        kafka.start();
        for (int i = 0; i < 10; i++) {
          producer.send(new ProducerRecord<>("t", "k" + i, "after-" + i)).get();
        }
      }
      assertThat(readAll(kafka, "t", 20)).hasSize(20).contains("before-3", "after-7");
    }
  }

  @Test
  void transactionsWorkOnASingleNode() throws Exception {
    try (KafkaBroker kafka = KafkaBroker.forTests();
        var producer = new KafkaProducer<>(Map.<String, Object>of(
            ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
            ProducerConfig.TRANSACTIONAL_ID_CONFIG, "tx-test"),
            new StringSerializer(), new StringSerializer())) {
      producer.initTransactions();
      producer.beginTransaction();
      producer.send(new ProducerRecord<>("tx", "k", "committed"));
      producer.commitTransaction();
      assertThat(readAll(kafka, "tx", 1)).containsExactly("committed");
    }
  }

  @Test
  void anUnknownBrokerKindIsNamed() {
    System.setProperty("hiformer.kafka", "zookeeper");
    try {
      assertThatThrownBy(KafkaBroker::forTests).hasMessageContaining("got 'zookeeper'");
    } finally {
      System.clearProperty("hiformer.kafka");
    }
  }

  private static KafkaProducer<String, String> producer(KafkaBroker kafka) {
    return new KafkaProducer<>(Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
        ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 60_000), new StringSerializer(), new StringSerializer());
  }

  private static List<String> readAll(KafkaBroker kafka, String topic, int expected) {
    try (var consumer = new KafkaConsumer<>(Map.<String, Object>of(
        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
        ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed"),
        new StringDeserializer(), new StringDeserializer())) {
      List<TopicPartition> partitions = new ArrayList<>();
      consumer.partitionsFor(topic).forEach(p -> partitions.add(new TopicPartition(topic, p.partition())));
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      List<String> values = new ArrayList<>();
      long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      while (values.size() < expected && System.nanoTime() < deadline) {
        consumer.poll(Duration.ofMillis(200)).forEach(r -> values.add(r.value()));
      }
      return values;
    }
  }
}
