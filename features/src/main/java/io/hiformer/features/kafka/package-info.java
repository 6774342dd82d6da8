/**
 * The project's Kafka topics: their names under one prefix ({@link
 * io.hiformer.features.kafka.TopicNames}, the one place topic names live; docs/kafka-topics.md),
 * creating them when missing ({@link io.hiformer.features.kafka.KafkaTopics}) and protobuf record
 * values ({@link io.hiformer.features.kafka.ProtobufSerde}, used by the other {@code features}
 * packages).
 */
package io.hiformer.features.kafka;
