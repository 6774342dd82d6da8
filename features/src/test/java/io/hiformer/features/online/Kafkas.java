package io.hiformer.features.online;

import io.hiformer.features.kafka.KafkaTopics;
import io.hiformer.features.kafka.TopicNames;
import io.hiformer.localkafka.KafkaBroker;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/** Kafka helpers the ingestion tests share. */
final class Kafkas {
  private Kafkas() {}

  /** Creates the three feature topics under {@code topics}' prefix with {@code partitions} each. */
  static void createTopics(KafkaBroker kafka, TopicNames topics, int partitions) throws Exception {
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", kafka.bootstrapServers()))) {
      KafkaTopics.ensure(admin, KafkaTopics.featureTopics(topics, partitions));
      KafkaTopics.awaitLeaders(admin, List.of(topics.featuresUser(), topics.featuresItem(), topics.featuresDlq()),
          Duration.ofSeconds(30));
    }
  }

  /** A producer of raw bytes, for records no publisher would write. */
  static KafkaProducer<byte[], byte[]> rawProducer(KafkaBroker kafka) {
    return new KafkaProducer<>(Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
        ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, 1), new ByteArraySerializer(), new ByteArraySerializer());
  }

  /** Reads {@code expected} records of {@code topic} from the beginning, waiting up to 30 s. */
  static List<ConsumerRecord<byte[], byte[]>> readAll(KafkaBroker kafka, String topic, int expected) {
    try (var consumer = new KafkaConsumer<>(Map.<String, Object>of("bootstrap.servers", kafka.bootstrapServers()),
        new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      List<TopicPartition> partitions = new ArrayList<>();
      consumer.partitionsFor(topic).forEach(p -> partitions.add(new TopicPartition(topic, p.partition())));
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
      long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      while (out.size() < expected && System.nanoTime() < deadline) {
        consumer.poll(Duration.ofMillis(100)).forEach(out::add);
      }
      return out;
    }
  }

  /** Waits up to {@code timeout} for {@code condition}; returns the milliseconds it took, or -1. */
  static long waitFor(Duration timeout, BooleanSupplier condition) throws InterruptedException {
    long start = System.nanoTime();
    long deadline = start + timeout.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        return -1;
      }
      Thread.sleep(2);
    }
    return (System.nanoTime() - start) / 1_000_000;
  }
}
