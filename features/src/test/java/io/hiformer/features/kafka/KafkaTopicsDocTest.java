package io.hiformer.features.kafka;

import static org.assertj.core.api.Assertions.assertThat;

import io.hiformer.features.online.FeatureIngestor;
import io.hiformer.features.online.Rejection;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** docs/kafka-topics.md names every topic of {@link TopicNames}, the dead-letter headers and reason codes. */
class KafkaTopicsDocTest {

  @Test
  void everyTopicAndDeadLetterHeaderIsDocumented() throws Exception {
    String doc = Files.readString(Path.of("..", "docs", "kafka-topics.md"));
    TopicNames bare = new TopicNames("");
    List<String> topics = new ArrayList<>();
    for (Method m : TopicNames.class.getDeclaredMethods()) {
      if (m.getParameterCount() == 0 && m.getReturnType() == String.class && !m.getName().equals("prefix")
          && !m.getName().equals("toString")) {
        topics.add((String) m.invoke(bare));
      }
    }
    assertThat(topics).hasSize(8);
    for (String topic : topics) {
      assertThat(doc).as("topic %s in the table", topic).contains("| `" + topic + "` |");
    }
    assertThat(doc).contains("`" + TopicNames.DEFAULT_PREFIX + "`");
    for (String header : List.of(FeatureIngestor.REASON_HEADER, FeatureIngestor.REASON_CODE_HEADER,
        FeatureIngestor.SOURCE_HEADER)) {
      assertThat(doc).as("header %s", header).contains("`" + header + "`");
    }
    for (Rejection.Reason reason : Rejection.Reason.values()) {
      assertThat(doc).as("reason code %s", reason.tag()).contains("`" + reason.tag() + "`");
    }
  }
}
