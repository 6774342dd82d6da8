package io.hiformer.features.joiner;

import io.hiformer.features.kafka.KafkaTopics;
import io.hiformer.features.kafka.ProtobufSerde;
import io.hiformer.features.kafka.TopicNames;
import io.hiformer.proto.Outcome;
import io.hiformer.proto.RankLogEntry;
import io.hiformer.proto.TrainingExample;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.AutoOffsetReset;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.LogAndContinueExceptionHandler;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.state.Stores;

/**
 * The example joiner, a Kafka Streams application: joins the {@code rank-log} with
 * {@code outcomes} (both keyed by request id, so a request's records meet in one partition) and
 * writes one {@link TrainingExample} per candidate returned to the client to {@code examples}.
 *
 * <p>Rules, all in event time (serving time of an entry, event time of an outcome; stream time is
 * the largest seen in a partition):
 *
 * <ul>
 *   <li>A request's attribution window is {@code [served, served + window]}: outcomes that
 *       happened in it label the request's candidates, several for one (item, task) keeping the
 *       largest value.
 *   <li>The request closes when stream time reaches {@code served + window + grace}: the grace
 *       lets outcomes that happened in the window arrive late. Then each returned candidate
 *       becomes an example with every task's label known: the outcome's value, or 0 (a negative)
 *       when none came. Candidates cut by {@code top_k} were never shown and give no example.
 *   <li>An outcome that arrives before its request's rank-log entry (the rank log lags: a
 *       writer buffering through a broker outage, a lagging partition) waits for it in the join
 *       state until stream time reaches {@code event time + window + grace}, and is applied when
 *       the entry arrives, exactly as if it had come after it. An entry it can belong to was
 *       served at most {@code window} before it, so arrives by then or is itself too late; only
 *       then is the outcome dead-lettered as {@code unknown-request}. At most {@link
 *       Options#maxWaitingPerRequest} outcomes wait per request and {@link Options#maxWaiting}
 *       per partition; more are dead-lettered as {@code waiting-full}.
 *   <li>An outcome that arrives after its request closed is <em>late</em>: its example is already
 *       out (as a negative for that task), so it is dead-lettered with reason {@code late} and
 *       counted, never emitted as a correction (a second example for the same impression would
 *       count it twice in training). So are outcomes after the window ({@code after-window}), for
 *       unknown requests, items or tasks, invalid records and late rank-log entries; see
 *       {@code Rejected.Reason}.
 * </ul>
 *
 * <p>Exactly-once ({@code exactly_once_v2}): state, examples, dead letters and input offsets
 * commit in one transaction, so a crash or rebalance neither loses nor duplicates an example.
 * Scales by running more instances with the same application id, up to the partition count.
 */
public final class ExampleJoiner implements AutoCloseable {

  /**
   * @param window how long after serving an outcome still counts (attribution window)
   * @param grace how much longer, in stream time, the joiner waits for outcomes from the window
   *     that are delivered late
   * @param topics the topic names
   * @param maxWaitingPerRequest the most outcomes of one request that wait for its rank-log entry
   * @param maxWaiting the most outcomes of one partition that wait for rank-log entries
   */
  public record Options(Duration window, Duration grace, TopicNames topics, int maxWaitingPerRequest,
      int maxWaiting) {
    public static final int MAX_WAITING_PER_REQUEST = 256;
    public static final int MAX_WAITING = 100_000;

    public Options {
      Objects.requireNonNull(window, "window");
      Objects.requireNonNull(grace, "grace");
      Objects.requireNonNull(topics, "topics");
      if (window.toMillis() < 1) {
        throw new IllegalArgumentException("window must be at least 1 ms, got " + window);
      }
      if (grace.isNegative()) {
        throw new IllegalArgumentException("grace must not be negative, got " + grace);
      }
      if (maxWaitingPerRequest < 0 || maxWaiting < 0) {
        throw new IllegalArgumentException("the most waiting outcomes must not be negative, got "
            + maxWaitingPerRequest + " per request and " + maxWaiting + " per partition");
      }
    }

    /** With the default bounds on waiting outcomes. */
    public Options(Duration window, Duration grace, TopicNames topics) {
      this(window, grace, topics, MAX_WAITING_PER_REQUEST, MAX_WAITING);
    }
  }

  /**
   * Where and how to run: Kafka, the application id (shared by all instances of one joiner; it
   * names its consumer group and internal topics), local state directory, stream threads, and
   * what decides how fast a failed instance's partitions move ({@link Failover}).
   */
  public record Deployment(String bootstrapServers, String applicationId, Path stateDir, int threads,
      Failover failover) {
    public Deployment {
      Objects.requireNonNull(bootstrapServers, "bootstrapServers");
      Objects.requireNonNull(applicationId, "applicationId");
      Objects.requireNonNull(stateDir, "stateDir");
      Objects.requireNonNull(failover, "failover");
      if (threads < 1) {
        throw new IllegalArgumentException("threads must be positive, got " + threads);
      }
    }

    /** With the {@link Failover#RECOMMENDED} settings. */
    public Deployment(String bootstrapServers, String applicationId, Path stateDir, int threads) {
      this(bootstrapServers, applicationId, stateDir, threads, Failover.RECOMMENDED);
    }
  }

  /**
   * How a failed instance's partitions move to the others. An instance that dies without leaving
   * the group holds its partitions until the broker has had no heartbeat from it for {@code
   * sessionTimeout}; the instance taking over restores their state from the changelog unless it
   * keeps a standby copy ({@code standbyReplicas}: useful up to one per instance beyond the first).
   *
   * @param sessionTimeout consumer {@code session.timeout.ms}; the broker accepts 6 s to 30 min
   *     by default ({@code group.min/max.session.timeout.ms})
   * @param heartbeatInterval consumer {@code heartbeat.interval.ms}, at most a third of the session timeout
   * @param standbyReplicas Kafka Streams {@code num.standby.replicas}
   */
  public record Failover(Duration sessionTimeout, Duration heartbeatInterval, int standbyReplicas) {
    /**
     * 10 s (not Kafka's 45 s) with heartbeats every 3 s, and one standby: a killed instance's
     * partitions resume on another within about 10 s, from a warm copy of their state. A stall
     * longer than the session timeout (a long GC pause) costs a rebalance, never data.
     */
    public static final Failover RECOMMENDED = new Failover(Duration.ofSeconds(10), Duration.ofSeconds(3), 1);

    public Failover {
      Objects.requireNonNull(sessionTimeout, "sessionTimeout");
      Objects.requireNonNull(heartbeatInterval, "heartbeatInterval");
      if (heartbeatInterval.toMillis() < 1 || heartbeatInterval.toMillis() * 3 > sessionTimeout.toMillis()) {
        throw new IllegalArgumentException("the heartbeat interval must be positive and at most a third of the"
            + " session timeout, got " + heartbeatInterval + " for " + sessionTimeout);
      }
      if (standbyReplicas < 0) {
        throw new IllegalArgumentException("standby replicas must not be negative, got " + standbyReplicas);
      }
    }
  }

  private final KafkaStreams streams;
  private final JoinerCounts counts;
  private volatile Throwable failure;

  private ExampleJoiner(KafkaStreams streams, JoinerCounts counts) {
    this.streams = streams;
    this.counts = counts;
  }

  /** The processing graph: the two sources, the join processor with its stores, the examples sink. */
  static Topology topology(Options options, JoinerCounts counts) {
    var entries = ProtobufSerde.of(RankLogEntry.parser(), "RankLogEntry");
    var outcomes = ProtobufSerde.of(Outcome.parser(), "Outcome");
    var examples = ProtobufSerde.of(TrainingExample.parser(), "TrainingExample");
    Topology t = new Topology();
    t.addSource(AutoOffsetReset.earliest(), "rank-log", new EventTime(), Serdes.String().deserializer(),
        entries.deserializer(), options.topics().rankLog());
    t.addSource(AutoOffsetReset.earliest(), "outcomes", new EventTime(), Serdes.String().deserializer(),
        outcomes.deserializer(), options.topics().outcomes());
    t.addProcessor("join", () -> new JoinProcessor(options, counts), "rank-log", "outcomes");
    t.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(JoinProcessor.REQUESTS),
        Serdes.String(), entries), "join");
    t.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(JoinProcessor.LABELS),
        Serdes.String(), Serdes.Float()), "join");
    t.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(JoinProcessor.WAITING),
        Serdes.String(), Serdes.ByteArray()), "join");
    t.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(JoinProcessor.DUE),
        Serdes.String(), Serdes.String()), "join");
    t.addSink(JoinProcessor.EXAMPLES, options.topics().examples(), Serdes.String().serializer(),
        examples.serializer(), "join");
    // Outcomes rejected after their own record was processed (they waited for a rank-log entry).
    t.addSink(JoinProcessor.DEAD_LETTERS, options.topics().examplesDlq(), Serdes.String().serializer(),
        Serdes.ByteArray().serializer(), "join");
    return t;
  }

  /** Kafka Streams settings: exactly-once, the dead-letter topic and its handlers, failover. */
  public static Properties config(Deployment d, Options options) {
    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, d.applicationId());
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, d.bootstrapServers());
    p.put(StreamsConfig.STATE_DIR_CONFIG, d.stateDir().toString());
    p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, d.threads());
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    p.put(StreamsConfig.ERRORS_DEAD_LETTER_QUEUE_TOPIC_NAME_CONFIG, options.topics().examplesDlq());
    p.put(StreamsConfig.PROCESSING_EXCEPTION_HANDLER_CLASS_CONFIG, RejectedRecordHandler.class);
    p.put(StreamsConfig.DESERIALIZATION_EXCEPTION_HANDLER_CLASS_CONFIG, LogAndContinueExceptionHandler.class);
    // Wait a little for the other topic's partition before going on without it, so rank-log entries
    // and outcomes are processed in event-time order even when one topic's fetch lags.
    p.put(StreamsConfig.MAX_TASK_IDLE_MS_CONFIG, 500L);
    p.put(StreamsConfig.consumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG),
        (int) d.failover().sessionTimeout().toMillis());
    p.put(StreamsConfig.consumerPrefix(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG),
        (int) d.failover().heartbeatInterval().toMillis());
    p.put(StreamsConfig.NUM_STANDBY_REPLICAS_CONFIG, d.failover().standbyReplicas());
    return p;
  }

  /**
   * Checks that rank-log and outcomes have the same partition count (else a request's records
   * would land in different tasks), then starts the joiner.
   */
  public static ExampleJoiner start(Deployment d, Options options) {
    return start(config(d, options), options);
  }

  /** As {@link #start(Deployment, Options)} with explicit Streams settings (from {@link #config}). */
  public static ExampleJoiner start(Properties config, Options options) {
    String rankLog = options.topics().rankLog();
    String outcomes = options.topics().outcomes();
    try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG,
        config.get(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG)))) {
      Map<String, Integer> partitions = KafkaTopics.partitions(admin, List.of(rankLog, outcomes));
      if (!partitions.get(rankLog).equals(partitions.get(outcomes))) {
        throw new IllegalStateException(rankLog + " has " + partitions.get(rankLog) + " partitions and " + outcomes
            + " has " + partitions.get(outcomes) + "; they must have the same number, both keyed by request id");
      }
    }
    JoinerCounts counts = new JoinerCounts();
    KafkaStreams streams = new KafkaStreams(topology(options, counts), config);
    ExampleJoiner joiner = new ExampleJoiner(streams, counts);
    // A bug or a broken store: stop this instance (its partitions move to the others) and say why.
    streams.setUncaughtExceptionHandler(e -> {
      joiner.failure = e;
      return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
    });
    streams.start();
    return joiner;
  }

  public JoinerCounts counts() {
    return counts;
  }

  /** What stopped this instance, or null. */
  public Throwable failure() {
    return failure;
  }

  /** The running Kafka Streams instance (state, metrics). */
  public KafkaStreams streams() {
    return streams;
  }

  /**
   * Commits, stops and leaves the group, so the other instances take over this one's partitions
   * at once instead of after the session timeout.
   */
  @Override
  public void close() {
    streams.close(CloseOptions.timeout(Duration.ofSeconds(30))
        .withGroupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP));
  }
}
