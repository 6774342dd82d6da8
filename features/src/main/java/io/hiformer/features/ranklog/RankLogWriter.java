package io.hiformer.features.ranklog;

import io.hiformer.proto.RankLogEntry;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.InterruptException;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Writes {@link RankLogEntry}s to the {@code rank-log} topic without ever blocking or failing the
 * caller: {@link #offer} puts the entry into a buffer bounded in bytes and returns at once; one
 * sender thread hands entries to a {@link KafkaProducer}. An entry that does not fit the buffer is
 * dropped and counted ({@link #dropped()}); one the producer took but could not deliver within
 * {@code delivery.timeout.ms} (2 min by default), or that Kafka can never take (too large), is
 * counted as {@link #failed()}. Records are keyed by request id and time-stamped with the serving
 * time, the joiner's event time.
 *
 * <p>Riding out a broker outage: the producer keeps what it was handed (its own {@code
 * buffer.memory}) and retries it until the delivery timeout. When it takes no more (its buffer is
 * full, or it has no metadata for the topic after {@code max.block.ms}), the entry stays at the
 * head of this writer's buffer and is offered again; meanwhile the buffer fills, and only entries
 * that do not fit it are dropped. So an outage shorter than the delivery timeout loses nothing
 * while both buffers have room, and a ranker's memory stays bounded by both. Thread-safe.
 */
public final class RankLogWriter implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger(RankLogWriter.class.getName());
  private static final long LOG_EVERY_NANOS = TimeUnit.MINUTES.toNanos(1);
  /** How long the producer retries an entry it took, unless {@link Options#withDeliveryTimeout} says otherwise. */
  public static final Duration DEFAULT_DELIVERY_TIMEOUT = Duration.ofMinutes(2);
  /** The shortest delivery timeout: Kafka wants at least {@code request.timeout.ms} (30 s) + {@code linger.ms}. */
  static final Duration MIN_DELIVERY_TIMEOUT = Duration.ofSeconds(31);
  /** Pause before offering the producer an entry it did not take. */
  private static final long RETRY_PAUSE_MS = 100;

  /** Producer settings the writer starts from; {@link Options#producer} entries override them. */
  static final Map<String, Object> PRODUCER_DEFAULTS = Map.of(
      ProducerConfig.ACKS_CONFIG, "all",
      ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true,
      // User and context ids repeat in every candidate's inputs: entries compress well.
      ProducerConfig.COMPRESSION_TYPE_CONFIG, "lz4",
      ProducerConfig.LINGER_MS_CONFIG, 10,
      // An entry is tens of KB (200 candidates of ref-serving: 25 KB): batches of several, not one each.
      ProducerConfig.BATCH_SIZE_CONFIG, 256 * 1024,
      // The most one hand-over to the producer blocks the sender (never a call) while the producer's
      // buffer is full or it has no metadata; the entry is then offered again.
      ProducerConfig.MAX_BLOCK_MS_CONFIG, 1_000,
      // How long the producer retries an entry it took: through broker outages of a minute or more.
      ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, (int) DEFAULT_DELIVERY_TIMEOUT.toMillis(),
      ProducerConfig.RETRY_BACKOFF_MAX_MS_CONFIG, 1_000,
      ProducerConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, 1_000,
      ProducerConfig.CLIENT_ID_CONFIG, "hiformer-rank-log");

  /**
   * @param capacityBytes the most serialized bytes waiting in this writer's buffer
   * @param producer Kafka producer settings on top of the defaults (e.g. {@code delivery.timeout.ms})
   */
  public record Options(long capacityBytes, Map<String, Object> producer) {
    public static final Options DEFAULTS = new Options(64L << 20, Map.of());

    public Options {
      if (capacityBytes < 1) {
        throw new IllegalArgumentException("capacityBytes must be positive, got " + capacityBytes);
      }
      producer = Map.copyOf(producer);
    }

    public Options withCapacityBytes(long bytes) {
      return new Options(bytes, producer);
    }

    public Options withProducer(Map<String, Object> settings) {
      return new Options(capacityBytes, settings);
    }

    /** The producer's {@code delivery.timeout.ms}: how long it retries an entry it took (at least 31 s). */
    public Options withDeliveryTimeout(Duration timeout) {
      if (timeout.compareTo(MIN_DELIVERY_TIMEOUT) < 0) {
        throw new IllegalArgumentException("the rank-log delivery timeout must be at least "
            + MIN_DELIVERY_TIMEOUT.toSeconds() + " s (Kafka's request timeout and linger), got " + timeout);
      }
      Map<String, Object> settings = new HashMap<>(producer);
      settings.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, (int) Math.min(Integer.MAX_VALUE, timeout.toMillis()));
      return new Options(capacityBytes, settings);
    }
  }

  private final String topic;
  private final long capacityBytes;
  private final KafkaProducer<String, byte[]> producer;
  private final LinkedBlockingQueue<Serialized> queue = new LinkedBlockingQueue<>();

  /** A queued entry as it goes to Kafka: keyed by its request id, timestamped with its served time. */
  private record Serialized(String requestId, long servedTimeMs, byte[] bytes) {}
  private final AtomicLong queuedBytes = new AtomicLong();
  private final LongAdder sent = new LongAdder();
  private final LongAdder dropped = new LongAdder();
  private final LongAdder failed = new LongAdder();
  private final AtomicLong lastLogged = new AtomicLong(System.nanoTime() - LOG_EVERY_NANOS);
  private final Thread sender;
  private volatile boolean closing;

  private RankLogWriter(String bootstrapServers, String topic, Options options) {
    this.topic = Objects.requireNonNull(topic, "topic");
    this.capacityBytes = options.capacityBytes();
    Map<String, Object> config = new HashMap<>(PRODUCER_DEFAULTS);
    config.putAll(options.producer());
    config.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, Objects.requireNonNull(bootstrapServers, "bootstrapServers"));
    this.producer = new KafkaProducer<>(config, new StringSerializer(), new ByteArraySerializer());
    this.sender = Thread.ofPlatform().name("hiformer-rank-log").daemon().unstarted(this::send);
  }

  /** A writer to {@code topic} that is sending; {@link #close()} it. */
  public static RankLogWriter start(String bootstrapServers, String topic, Options options) {
    RankLogWriter writer = new RankLogWriter(bootstrapServers, topic, options);
    writer.sender.start();
    return writer;
  }

  /**
   * Queues {@code entry} for sending and returns true, or drops it and returns false when the
   * buffer is full or the writer is closing. Never blocks.
   */
  public boolean offer(RankLogEntry entry) {
    return offer(entry.getRequestId(), entry.getServedTimeMs(), entry.toByteArray());
  }

  /**
   * {@link #offer(RankLogEntry)} for an entry already serialized ({@link RankLogEntries#encode}),
   * given with its request id and served time.
   */
  public boolean offer(String requestId, long servedTimeMs, byte[] entry) {
    if (closing) {
      dropped.increment();
      return false;
    }
    long size = entry.length;
    if (queuedBytes.addAndGet(size) > capacityBytes) {
      queuedBytes.addAndGet(-size);
      dropped.increment();
      warn("rank log buffer full (" + capacityBytes + " bytes): entries are being dropped");
      return false;
    }
    queue.add(new Serialized(requestId, servedTimeMs, entry));
    return true;
  }

  /** Entries the broker acknowledged. */
  public long sent() {
    return sent.sum();
  }

  /** Entries refused by {@link #offer} because the buffer was full or the writer closing. */
  public long dropped() {
    return dropped.sum();
  }

  /** Entries the producer could not deliver. */
  public long failed() {
    return failed.sum();
  }

  /** Serialized bytes waiting in this writer's buffer. */
  long queuedBytes() {
    return queuedBytes.get();
  }

  private void send() {
    Serialized entry = null; // taken from the queue, not yet taken by the producer
    try {
      while (true) {
        if (entry == null) {
          if (closing && queue.isEmpty()) {
            return;
          }
          entry = queue.poll(100, TimeUnit.MILLISECONDS);
        } else if (handOver(entry)) {
          queuedBytes.addAndGet(-entry.bytes().length);
          entry = null;
        } else {
          Thread.sleep(RETRY_PAUSE_MS);
        }
      }
    } catch (InterruptedException | InterruptException e) {
      // close() gave up waiting: what the sender holds was never sent.
      if (entry != null) {
        failed.increment();
        queuedBytes.addAndGet(-entry.bytes().length);
      }
    }
  }

  /**
   * Hands {@code entry} to the producer: true when it took it (or can never take it, counted as
   * failed), false when it should be offered again (the producer's buffer stayed full or it had no
   * metadata for {@code max.block.ms}: a broker outage).
   */
  private boolean handOver(Serialized entry) {
    boolean[] refused = {false};
    Thread sending = Thread.currentThread();
    try {
      producer.send(new ProducerRecord<>(topic, null, entry.servedTimeMs(), entry.requestId(),
          entry.bytes()), (metadata, error) -> {
            if (error == null) {
              sent.increment();
            } else if (Thread.currentThread() == sending && error instanceof RetriableException) {
              // Called back inside send(): the producer did not take the entry, and may later.
              refused[0] = true;
              warn("rank log entries wait for Kafka: " + error);
            } else {
              failed.increment();
              warn("rank log entries are not delivered: " + error);
            }
          });
    } catch (InterruptException e) {
      throw e;
    } catch (RuntimeException e) {
      // A producer closed under the sender, or a bug: the entry cannot be sent.
      failed.increment();
      warn("rank log entries are not delivered: " + e);
    }
    return !refused[0];
  }

  private void warn(String message) {
    long now = System.nanoTime();
    long last = lastLogged.get();
    if (now - last >= LOG_EVERY_NANOS && lastLogged.compareAndSet(last, now)) {
      LOG.log(Level.WARNING, message + " (sent " + sent() + ", dropped " + dropped() + ", failed " + failed()
          + "; logged at most once a minute)");
    }
  }

  /**
   * Stops accepting entries, sends what is buffered and waits up to {@code timeout} for the
   * broker's acknowledgements; what is still undelivered then counts as failed.
   */
  public void close(Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    closing = true;
    try {
      sender.join(Math.max(1, timeout.toMillis()));
      sender.interrupt();
      sender.join(1_000); // it stops at once, counting the entry it holds as failed
    } catch (InterruptedException e) {
      sender.interrupt();
      Thread.currentThread().interrupt();
    }
    long left = deadline - System.nanoTime();
    producer.close(Duration.ofNanos(Math.max(0, left)));
    for (Serialized e; (e = queue.poll()) != null; ) {
      failed.increment();
      queuedBytes.addAndGet(-e.bytes().length);
    }
  }

  /** {@link #close(Duration)} with 5 seconds. */
  @Override
  public void close() {
    close(Duration.ofSeconds(5));
  }
}
