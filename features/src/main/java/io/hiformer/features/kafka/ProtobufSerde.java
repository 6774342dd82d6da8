package io.hiformer.features.kafka;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageLite;
import com.google.protobuf.Parser;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serializer;

/**
 * Protobuf messages as Kafka record values (their plain binary encoding). A value that does not
 * parse throws a {@link SerializationException} naming the message type, which the consumer's
 * error handling (e.g. a dead-letter topic) then deals with.
 */
public final class ProtobufSerde<T extends MessageLite> implements Serde<T> {
  private final Parser<T> parser;
  private final String type;

  private ProtobufSerde(Parser<T> parser, String type) {
    this.parser = parser;
    this.type = type;
  }

  /** A serde for the messages {@code parser} reads; {@code type} names them in errors. */
  public static <T extends MessageLite> ProtobufSerde<T> of(Parser<T> parser, String type) {
    return new ProtobufSerde<>(parser, type);
  }

  @Override
  public Serializer<T> serializer() {
    return (topic, message) -> message == null ? null : message.toByteArray();
  }

  @Override
  public Deserializer<T> deserializer() {
    return (topic, bytes) -> {
      if (bytes == null) {
        return null;
      }
      try {
        return parser.parseFrom(bytes);
      } catch (InvalidProtocolBufferException e) {
        throw new SerializationException("not a " + type + ": " + e.getMessage(), e);
      }
    };
  }
}
