package io.hiformer.ops;

import static io.hiformer.ops.VerifyCommandTest.run;
import static org.assertj.core.api.Assertions.assertThat;

import io.hiformer.ops.VerifyCommandTest.Result;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The Kafka options, one mixin in every command that talks to Kafka. */
class KafkaOptionsTest {

  @Test
  void everyKafkaCommandTakesTheSameTwoOptions() {
    for (List<String> command : List.of(List.of("serve"), List.of("joiner"), List.of("features", "load"),
        List.of("train"), List.of("models", "promote"), List.of("models", "rollback"))) {
      String[] args = java.util.stream.Stream.concat(command.stream(), java.util.stream.Stream.of("--help"))
          .toArray(String[]::new);
      Result r = run(args);
      assertThat(r.exit()).as(command + r.err()).isZero();
      assertThat(r.out()).as(command.toString())
          .contains("--bootstrap-servers=HOST:PORT[,...]", "Kafka bootstrap servers", "--topic-prefix=PREFIX",
              "prefix of the Kafka topic names");
    }
  }

  @Test
  void theJoinerRequiresBootstrapServersWithAOneLineError() {
    Result r = run("joiner", "--metrics-port", "0");
    assertThat(r.exit()).isEqualTo(2);
    assertThat(r.err()).contains("--bootstrap-servers is required").doesNotContain("Exception");
  }
}
