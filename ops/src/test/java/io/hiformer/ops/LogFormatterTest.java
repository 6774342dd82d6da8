package io.hiformer.ops;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.ConsoleHandler;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.LogRecord;
import org.junit.jupiter.api.Test;

/** Log events as one line each, text or JSON, and Kafka's repeats held back. */
class LogFormatterTest {
  static LogRecord record(String logger, Level level, String message, Throwable thrown) {
    LogRecord r = new LogRecord(level, message);
    r.setLoggerName(logger);
    r.setThrown(thrown);
    return r;
  }

  static final Throwable FAILURE = new IllegalStateException("outer\nsecond line",
      new java.io.IOException("inner cause"));

  /** java.util.logging instantiates the formatter by name, so it must stay public with a public constructor. */
  @Test
  void aLoggingPropertiesFileCanNameTheFormatter() throws Exception {
    String key = "java.util.logging.ConsoleHandler.formatter";
    LogManager manager = LogManager.getLogManager();
    String before = manager.getProperty(key);
    try {
      manager.updateConfiguration(properties(key + " = io.hiformer.ops.LogFormatter"),
          k -> k.equals(key) ? (o, n) -> n : (o, n) -> o);
      ConsoleHandler handler = new ConsoleHandler();
      assertThat(handler.getFormatter()).isInstanceOf(LogFormatter.class);
    } finally {
      manager.updateConfiguration(properties(before == null ? "" : key + " = " + before),
          k -> k.equals(key) ? (o, n) -> n : (o, n) -> o);
    }
  }

  private static java.io.InputStream properties(String line) {
    return new java.io.ByteArrayInputStream((line + "\n").getBytes(java.nio.charset.StandardCharsets.UTF_8));
  }

  @Test
  void textIsOneLineWithTheStackTraceFolded() {
    String line = new LogFormatter().format(record("io.hiformer.ranker.RegistryWatcher", Level.WARNING,
        "model refused:\n  no transforms", FAILURE));
    assertThat(line.strip().lines().count()).isEqualTo(1);
    assertThat(line).endsWith(System.lineSeparator()).contains(" WARNING io.hiformer.ranker.RegistryWatcher: ",
        "model refused:\\n  no transforms", "java.lang.IllegalStateException: outer\\nsecond line",
        "at io.hiformer.ops.LogFormatterTest", "Caused by: java.io.IOException: inner cause");
  }

  @Test
  void jsonIsOneObjectALine() throws Exception {
    String line = new LogFormatter(true).format(record("kafka.server", Level.SEVERE, "broker\nstopped", FAILURE));
    assertThat(line.strip().lines().count()).isEqualTo(1);
    JsonNode event = new ObjectMapper().readTree(line);
    assertThat(event.path("level").asText()).isEqualTo("SEVERE");
    assertThat(event.path("logger").asText()).isEqualTo("kafka.server");
    assertThat(event.path("message").asText()).isEqualTo("broker\nstopped");
    assertThat(event.path("exception").asText()).contains("IllegalStateException: outer", "Caused by");
    assertThat(event.path("time").asText()).isNotEmpty();
  }

  @Test
  void kafkasRepeatedWarningsPassOnceAMinuteWithACountOfThoseHeldBack() {
    AtomicLong now = new AtomicLong();
    RepeatedLogFilter filter = new RepeatedLogFilter(Duration.ofMinutes(1), now::get, "org.apache.kafka", "kafka");
    String logger = "org.apache.kafka.clients.NetworkClient";
    assertThat(filter.isLoggable(record(logger, Level.WARNING, "Connection to node -1 (localhost/127.0.0.1:9092)"
        + " could not be established.", null))).isTrue();
    for (int i = 0; i < 30; i++) {
      now.addAndGet(Duration.ofSeconds(1).toNanos());
      assertThat(filter.isLoggable(record(logger, Level.WARNING, "Connection to node -" + (i % 3 + 1)
          + " (localhost/127.0.0.1:9092) could not be established.", null))).isFalse();
    }
    // Another kind, and other loggers, are not held back.
    assertThat(filter.isLoggable(record(logger, Level.WARNING, "Bootstrap broker disconnected", null))).isTrue();
    assertThat(filter.isLoggable(record("io.hiformer.x", Level.WARNING, "Connection to node -1", null))).isTrue();
    assertThat(filter.isLoggable(record("io.hiformer.x", Level.WARNING, "Connection to node -1", null))).isTrue();

    now.addAndGet(Duration.ofSeconds(31).toNanos());
    LogRecord next = record(logger, Level.WARNING, "Connection to node -1 (localhost/127.0.0.1:9092) could not be"
        + " established.", null);
    assertThat(filter.isLoggable(next)).isTrue();
    assertThat(next.getMessage()).contains("(30 more like this in the last 61 s not logged)");
  }
}
