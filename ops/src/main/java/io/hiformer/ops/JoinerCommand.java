package io.hiformer.ops;

import io.hiformer.features.joiner.ExampleJoiner;
import io.hiformer.features.joiner.JoinerCounts;
import io.hiformer.features.kafka.KafkaTopics;
import io.hiformer.features.kafka.TopicNames;
import io.hiformer.ranker.MetricsServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.Consumer;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.streams.KafkaStreams;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code hiformer joiner}: runs the example joiner (Kafka Streams) until interrupted. */
@Command(name = "joiner", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Joins the rank log with outcomes into training examples (Kafka at --bootstrap-servers, required),"
        + " exactly once, until interrupted"
        + " (Ctrl-C commits and leaves the group).",
        "Each candidate returned to a client becomes one example when its request's window closes (stream time"
            + " reaches serving time + window + grace): labels are the largest outcome value per task within the"
            + " window, 0 for tasks without one. An outcome that arrives before its request's rank-log entry waits"
            + " for it until stream time reaches its own time + window + grace. Late outcomes and unusable records"
            + " go to the dead-letter topic with the reason. Run more instances with the same --application-id to share the partitions.",
        "Creates missing topics (rank-log and outcomes with the same partition count). See features/README.md."})
final class JoinerCommand implements Callable<Integer> {

  @Mixin
  KafkaOptions kafka = new KafkaOptions();

  @Option(names = "--window", defaultValue = "30m", converter = DurationConverter.class, paramLabel = "DURATION",
      description = "attribution window: outcomes up to this long after serving label it (default: ${DEFAULT-VALUE})")
  Duration window;

  @Option(names = "--grace", defaultValue = "5m", converter = DurationConverter.class, paramLabel = "DURATION",
      description = "how much longer to wait for outcomes from the window that arrive late (default: ${DEFAULT-VALUE})")
  Duration grace;

  @Option(names = "--application-id", defaultValue = "hiformer-example-joiner", paramLabel = "ID",
      description = "Kafka Streams application id, shared by all instances (default: ${DEFAULT-VALUE})")
  String applicationId;

  @Option(names = "--state-dir", paramLabel = "DIR",
      description = "local state (RocksDB; restored from Kafka when lost) (default: TMPDIR/hiformer-joiner)")
  Path stateDir;

  @Option(names = "--threads", defaultValue = "1", paramLabel = "N", description = "stream threads (default: ${DEFAULT-VALUE})")
  int threads;

  @Option(names = "--partitions", defaultValue = "6", paramLabel = "N",
      description = "partitions of topics this command creates (default: ${DEFAULT-VALUE})")
  int partitions;

  @CommandLine.Mixin
  MetricsOptions metricsOptions = new MetricsOptions();

  @Option(names = "--session-timeout", defaultValue = "10s", converter = DurationConverter.class,
      paramLabel = "DURATION", description = "a killed instance's partitions move to the others after this long"
          + " without its heartbeat; the broker accepts 6s to 30m (default: ${DEFAULT-VALUE}; Kafka's is 45s)")
  Duration sessionTimeout;

  @Option(names = "--heartbeat-interval", defaultValue = "3s", converter = DurationConverter.class,
      paramLabel = "DURATION", description = "heartbeats to the group, at most a third of --session-timeout"
          + " (default: ${DEFAULT-VALUE})")
  Duration heartbeatInterval;

  @Option(names = "--standby-replicas", defaultValue = "1", paramLabel = "N",
      description = "warm copies of each partition's state on other instances, so a failover need not restore it"
          + " from the changelog (default: ${DEFAULT-VALUE})")
  int standbyReplicas;

  @Option(names = "--max-waiting-per-request", defaultValue = "" + ExampleJoiner.Options.MAX_WAITING_PER_REQUEST,
      paramLabel = "N", description = "outcomes of one request that wait for its rank-log entry, at most; more are"
          + " dead-lettered as waiting-full (default: ${DEFAULT-VALUE})")
  int maxWaitingPerRequest;

  @Option(names = "--max-waiting", defaultValue = "" + ExampleJoiner.Options.MAX_WAITING, paramLabel = "N",
      description = "outcomes of one partition that wait for rank-log entries, at most (default: ${DEFAULT-VALUE})")
  int maxWaiting;

  @Option(names = "--status-every", defaultValue = "30s", converter = DurationConverter.class, paramLabel = "DURATION",
      description = "how often to print the counts (default: ${DEFAULT-VALUE})")
  Duration statusEvery;

  /** Called with the started joiner; tests use it to reach and stop it. */
  Consumer<ExampleJoiner> onStart = j -> {};
  /** The metrics port bound, once started. */
  volatile int boundMetricsPort = -1;

  @Override
  public Integer call() throws Exception {
    if (threads < 1 || partitions < 1) {
      System.err.println("error: --threads and --partitions must be positive");
      return 2;
    }
    InetSocketAddress metricsAddress = metricsOptions.address();
    ExampleJoiner.Options options;
    ExampleJoiner.Failover failover;
    String bootstrapServers;
    try {
      bootstrapServers = kafka.required();
      options = new ExampleJoiner.Options(window, grace, kafka.topics(), maxWaitingPerRequest,
          maxWaiting);
      failover = new ExampleJoiner.Failover(sessionTimeout, heartbeatInterval, standbyReplicas);
    } catch (IllegalArgumentException e) {
      System.err.println("error: " + e.getMessage());
      return 2;
    }
    Path state = stateDir != null ? stateDir : Path.of(System.getProperty("java.io.tmpdir"), "hiformer-joiner");
    ExampleJoiner joiner;
    try {
      createTopics(bootstrapServers, options.topics());
      joiner = ExampleJoiner.start(
          new ExampleJoiner.Deployment(bootstrapServers, applicationId, state, threads, failover), options);
    } catch (IllegalStateException e) {
      System.err.println("error: " + e.getMessage());
      return 2;
    }
    Thread hook = new Thread(joiner::close, "hiformer-joiner-shutdown");
    Runtime.getRuntime().addShutdownHook(hook);
    JoinerMetrics metrics = new JoinerMetrics(joiner);
    MetricsServer metricsServer;
    try {
      // Ready while the streams run; not while rebalancing, stopped or failed.
      metricsServer = MetricsServer.start(metricsAddress, metrics::scrape,
          () -> joiner.streams().state() == KafkaStreams.State.RUNNING);
    } catch (IOException e) {
      joiner.close();
      metrics.close();
      System.err.println("error: " + e.getMessage());
      return 2;
    }
    boundMetricsPort = metricsServer.port();
    System.out.printf("joining %s and %s into %s (window %s, grace %s), dead letters to %s%n",
        options.topics().rankLog(), options.topics().outcomes(), options.topics().examples(), window, grace,
        options.topics().examplesDlq());
    System.out.printf("metrics on port %d (GET /metrics, /live, /ready)%n", metricsServer.port());
    System.out.flush();
    try {
      onStart.accept(joiner);
      JoinerCounts counts = joiner.counts();
      long nextStatus = System.nanoTime() + statusEvery.toNanos();
      while (running(joiner.streams().state())) {
        Thread.sleep(100);
        if (System.nanoTime() >= nextStatus) {
          System.out.println(joiner.streams().state() + ": " + counts);
          nextStatus += statusEvery.toNanos();
        }
      }
      System.out.println("stopped: " + counts);
      if (joiner.failure() != null) {
        System.err.println("error: the joiner stopped on " + joiner.failure());
        return 1;
      }
      return 0;
    } finally {
      joiner.close();
      metricsServer.close();
      metrics.close();
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException alreadyShuttingDown) {
        // The hook is running or has run.
      }
    }
  }

  private static boolean running(KafkaStreams.State state) {
    return state == KafkaStreams.State.CREATED || state == KafkaStreams.State.REBALANCING
        || state == KafkaStreams.State.RUNNING;
  }

  /** Creates missing topics; rank-log and outcomes get the partition count of whichever exists. */
  private void createTopics(String bootstrapServers, TopicNames topics) {
    try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers))) {
      var existing = admin.listTopics().names().get();
      int joined = partitions;
      for (String t : List.of(topics.rankLog(), topics.outcomes())) {
        if (existing.contains(t)) {
          joined = KafkaTopics.partitions(admin, List.of(t)).get(t);
        }
      }
      List<NewTopic> missing = new ArrayList<>();
      for (String t : List.of(topics.rankLog(), topics.outcomes(), topics.examples())) {
        missing.add(KafkaTopics.topic(t, joined));
      }
      missing.add(KafkaTopics.topic(topics.examplesDlq(), 1));
      KafkaTopics.ensure(admin, missing);
    } catch (java.util.concurrent.ExecutionException e) {
      throw new IllegalStateException("cannot list topics at " + bootstrapServers + ": " + e.getCause(), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while creating topics", e);
    }
  }
}
