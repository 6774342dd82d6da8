package io.hiformer.localkafka;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Properties;
import java.util.stream.Stream;
import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import kafka.tools.StorageTool;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.utils.Time;

/**
 * One Kafka node in KRaft combined mode (broker and controller) running in this JVM on loopback
 * ports, storing its log in a directory. Single replica: every internal topic, the transaction log
 * included, has replication factor 1, so transactions (exactly-once) work.
 */
public final class LocalKafka implements KafkaBroker {

  private final Path dir;
  private final boolean deleteOnClose;
  private final Properties props;
  private final String bootstrap;
  private KafkaRaftServer server;

  private LocalKafka(Path dir, boolean deleteOnClose) {
    this.dir = dir;
    this.deleteOnClose = deleteOnClose;
    int[] ports = freePorts(2);
    int brokerPort = ports[0];
    int controllerPort = ports[1];
    this.bootstrap = "127.0.0.1:" + brokerPort;
    this.props = config(dir.resolve("log"), brokerPort, controllerPort);
  }

  /** Starts a node storing its log under {@code dir} (kept on {@link #close()}). */
  public static LocalKafka start(Path dir) {
    LocalKafka kafka = new LocalKafka(dir, false);
    kafka.format();
    kafka.start();
    return kafka;
  }

  /** Starts a node in a fresh temporary directory, deleted on {@link #close()}. */
  public static LocalKafka startTemporary() {
    try {
      LocalKafka kafka = new LocalKafka(Files.createTempDirectory("hiformer-kafka"), true);
      kafka.format();
      kafka.start();
      return kafka;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Override
  public String bootstrapServers() {
    return bootstrap;
  }

  @Override
  public synchronized void start() {
    if (server != null) {
      return;
    }
    KafkaRaftServer next = new KafkaRaftServer(KafkaConfig.fromProps(props, false), Time.SYSTEM);
    next.startup();
    server = next;
  }

  @Override
  public synchronized void stop() {
    if (server == null) {
      return;
    }
    server.shutdown();
    server.awaitShutdown();
    server = null;
  }

  @Override
  public void close() {
    stop();
    if (deleteOnClose) {
      deleteTree(dir);
    }
  }

  private void format() {
    try {
      Files.createDirectories(dir);
      Path file = dir.resolve("server.properties");
      try (var out = Files.newBufferedWriter(file)) {
        props.store(out, "hiformer local Kafka");
      }
      ByteArrayOutputStream log = new ByteArrayOutputStream();
      try (PrintStream print = new PrintStream(log, true, StandardCharsets.UTF_8)) {
        StorageTool.execute(
            new String[] {"format", "-t", Uuid.randomUuid().toString(), "-c", file.toString(), "--ignore-formatted"},
            print);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static Properties config(Path logDir, int brokerPort, int controllerPort) {
    Properties p = new Properties();
    p.setProperty("process.roles", "broker,controller");
    p.setProperty("node.id", "1");
    p.setProperty("controller.quorum.voters", "1@127.0.0.1:" + controllerPort);
    p.setProperty("listeners",
        "PLAINTEXT://127.0.0.1:" + brokerPort + ",CONTROLLER://127.0.0.1:" + controllerPort);
    p.setProperty("advertised.listeners", "PLAINTEXT://127.0.0.1:" + brokerPort);
    p.setProperty("controller.listener.names", "CONTROLLER");
    p.setProperty("inter.broker.listener.name", "PLAINTEXT");
    p.setProperty("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
    p.setProperty("log.dirs", logDir.toString());
    p.setProperty("num.partitions", "1");
    p.setProperty("offsets.topic.replication.factor", "1");
    p.setProperty("offsets.topic.num.partitions", "4");
    p.setProperty("transaction.state.log.replication.factor", "1");
    p.setProperty("transaction.state.log.min.isr", "1");
    p.setProperty("transaction.state.log.num.partitions", "4");
    p.setProperty("share.coordinator.state.topic.replication.factor", "1");
    p.setProperty("share.coordinator.state.topic.min.isr", "1");
    p.setProperty("group.initial.rebalance.delay.ms", "0");
    // Small segments and a quick cleaner so compaction is observable in tests.
    p.setProperty("log.cleaner.backoff.ms", "1000");
    return p;
  }

  /**
   * {@code n} distinct free loopback ports. Every socket stays open until all are chosen: one
   * closed before the next is opened may be handed out again (the broker then refused two
   * listeners on one port).
   */
  static int[] freePorts(int n) {
    ServerSocket[] sockets = new ServerSocket[n];
    try {
      int[] ports = new int[n];
      for (int i = 0; i < n; i++) {
        sockets[i] = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        sockets[i].setReuseAddress(true);
        ports[i] = sockets[i].getLocalPort();
      }
      return ports;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } finally {
      for (ServerSocket socket : sockets) {
        if (socket != null) {
          try {
            socket.close();
          } catch (IOException ignored) {
            // a port we only reserved for a moment
          }
        }
      }
    }
  }

  private static void deleteTree(Path root) {
    if (!Files.exists(root)) {
      return;
    }
    try (Stream<Path> paths = Files.walk(root)) {
      paths.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
