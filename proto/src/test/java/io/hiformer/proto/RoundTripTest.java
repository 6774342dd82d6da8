package io.hiformer.proto;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class RoundTripTest {

  static Stream<Message> messages() {
    return Stream.of(
        Samples.rankRequest(),
        Samples.rankResponse(),
        Samples.featureUpdate(),
        Samples.rankLogEntry(),
        Samples.outcome(),
        Samples.trainingExample(),
        Samples.modelAnnouncement(),
        Samples.categorical("x"),
        Samples.bag("x", "y"),
        Samples.id(5),
        Samples.dense(0.25));
  }

  @ParameterizedTest
  @MethodSource("messages")
  void roundTripsThroughBytes(Message message) throws InvalidProtocolBufferException {
    Message parsed = message.getParserForType().parseFrom(message.toByteArray());

    assertThat(parsed).isEqualTo(message);
  }

  @Test
  void samplesSetEveryField() {
    Set<String> reachable = new TreeSet<>();
    Set<String> set = new HashSet<>();
    for (Message m : messages().toList()) {
      collectReachable(m.getDescriptorForType(), new HashSet<>(), reachable);
      collectSet(m, set);
    }

    assertThat(set).containsAll(reachable);
  }

  @Test
  void unsetWeightIsDistinguishableFromZero() {
    assertThat(TrainingExample.getDefaultInstance().hasWeight()).isFalse();
    assertThat(TrainingExample.newBuilder().setWeight(0f).build().hasWeight()).isTrue();
  }

  @Test
  void rankLogAndExamplesShareTheInputEncoding() {
    assertThat(LoggedCandidate.getDescriptor().findFieldByName("inputs").getMessageType())
        .isSameAs(TrainingExample.getDescriptor().findFieldByName("inputs").getMessageType())
        .isSameAs(ModelInputs.getDescriptor());
  }

  private static void collectReachable(Descriptor type, Set<Descriptor> seen, Set<String> out) {
    if (!seen.add(type)) {
      return;
    }
    for (FieldDescriptor field : type.getFields()) {
      out.add(field.getFullName());
      if (field.getJavaType() == FieldDescriptor.JavaType.MESSAGE) {
        collectReachable(field.getMessageType(), seen, out);
      }
    }
  }

  /** Full names of the fields that are set (non-default) anywhere in the message tree. */
  private static void collectSet(Message message, Set<String> out) {
    message.getAllFields().forEach((field, value) -> {
      out.add(field.getFullName());
      if (field.getJavaType() == FieldDescriptor.JavaType.MESSAGE) {
        List<?> values = field.isRepeated() ? (List<?>) value : List.of(value);
        values.forEach(v -> collectSet((Message) v, out));
      }
    });
  }
}
