package io.hiformer.localkafka;

/**
 * A real Kafka broker for tests and the demo: {@link LocalKafka} in this JVM by default, a
 * Testcontainers broker when the system property {@code hiformer.kafka} is {@code testcontainers}.
 * Test code is the same for both.
 */
public interface KafkaBroker extends AutoCloseable {

  /** The {@code bootstrap.servers} value clients use; stable across {@link #stop()} and {@link #start()}. */
  String bootstrapServers();

  /** Takes the broker down, keeping its data, as a crash or network loss would look to clients. */
  void stop();

  /** Brings a stopped broker back at the same address with the same data. */
  void start();

  /** Stops the broker for good and deletes what it stored. */
  @Override
  void close();

  /** The broker the build asks for: {@code -Dhiformer.kafka=inprocess} (default) or {@code testcontainers}. */
  static KafkaBroker forTests() {
    String kind = System.getProperty("hiformer.kafka", "inprocess");
    return switch (kind) {
      case "inprocess" -> LocalKafka.startTemporary();
      case "testcontainers" -> ContainerKafka.launch();
      default -> throw new IllegalArgumentException(
          "hiformer.kafka must be inprocess or testcontainers, got '" + kind + "'");
    };
  }
}
