package io.hiformer.features.online;

import io.hiformer.features.online.Rejection.Reason;
import io.hiformer.proto.EntityKind;
import io.hiformer.proto.FeatureUpdate;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;

/**
 * The second stage of ingestion: takes batches of parsed updates from the consumer thread and
 * merges them into the store on a thread of its own, so that polling and parsing the next batch
 * overlap with applying this one. A small bounded queue between the two makes a slow store slow
 * the consumer down instead of piling up memory.
 */
final class Applier {
  private static final System.Logger LOG = System.getLogger(FeatureIngestor.class.getName());
  static final EntityKind[] KINDS = {EntityKind.ENTITY_KIND_USER, EntityKind.ENTITY_KIND_ITEM};

  /** Records of one poll that passed parsing: kind index, source record and update (null: a tombstone). */
  static final class Batch {
    final int[] kinds;
    final ConsumerRecord<byte[], byte[]>[] records;
    final FeatureUpdate[] updates;
    int size;
    // The next offset per partition polled, rejected records included: what the store commits.
    final Map<TopicPartition, Long> positions = new HashMap<>();
    boolean rejected;

    @SuppressWarnings("unchecked")
    Batch(int capacity) {
      kinds = new int[capacity];
      records = new ConsumerRecord[capacity];
      updates = new FeatureUpdate[capacity];
    }

    void add(int kind, ConsumerRecord<byte[], byte[]> record, FeatureUpdate update) {
      kinds[size] = kind;
      records[size] = record;
      updates[size++] = update;
    }
  }

  // Markers in the queue: everything before CAUGHT_UP was read at start; nothing follows END.
  private static final Batch CAUGHT_UP = new Batch(0);
  private static final Batch END = new Batch(0);

  private final OnlineStore store;
  private final IngestMetrics metrics;
  private final DeadLetters deadLetters;
  private final CompletableFuture<Void> caughtUp;
  private final BlockingQueue<Batch> queue = new ArrayBlockingQueue<>(1);
  private final Thread thread;
  private final long[] applied = new long[2];

  Applier(OnlineStore store, IngestMetrics metrics, DeadLetters deadLetters, CompletableFuture<Void> caughtUp) {
    this.store = store;
    this.metrics = metrics;
    this.deadLetters = deadLetters;
    this.caughtUp = caughtUp;
    this.thread = new Thread(this::run, "hiformer-features-apply");
    this.thread.setDaemon(true);
  }

  void start() {
    thread.start();
  }

  /** Queues a batch, waiting while two are already queued. */
  void submit(Batch batch) throws InterruptedException {
    queue.put(batch);
  }

  /** Marks the point where every record present at start has been queued. */
  void caughtUpHere() throws InterruptedException {
    queue.put(CAUGHT_UP);
  }

  /** Applies what is queued, then stops the thread. */
  void finish() throws InterruptedException {
    queue.put(END);
    thread.join();
  }

  private void run() {
    try {
      for (Batch b = queue.take(); b != END; b = queue.take()) {
        if (b == CAUGHT_UP) {
          metrics.caughtUp = true;
          caughtUp.complete(null);
          LOG.log(Level.INFO, "feature ingestion caught up: " + store.size(EntityKind.ENTITY_KIND_USER)
              + " users, " + store.size(EntityKind.ENTITY_KIND_ITEM) + " items");
        } else {
          apply(b);
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private void apply(Batch b) {
    long now = System.currentTimeMillis();
    for (int i = 0; i < b.size; i++) {
      int kind = b.kinds[i];
      FeatureUpdate u = b.updates[i];
      ConsumerRecord<byte[], byte[]> r = b.records[i];
      Rejection problem;
      try {
        if (u == null) {
          store.remove(KINDS[kind], new String(r.key(), StandardCharsets.UTF_8));
          problem = null;
        } else {
          problem = store.apply(u);
          if (problem == null) {
            metrics.freshness(kind, now - u.getEventTimeMs());
          }
        }
      } catch (RuntimeException e) {
        LOG.log(Level.ERROR, "applying " + DeadLetters.source(r) + " failed", e);
        problem = new Rejection(Reason.INTERNAL, "applying the update failed: " + e);
      }
      if (problem == null) {
        applied[kind]++;
      } else {
        deadLetters.reject(kind, r, problem);
        b.rejected = true;
      }
    }
    commit(b);
    metrics.applied(0, applied[0]);
    metrics.applied(1, applied[1]);
    applied[0] = 0;
    applied[1] = 0;
  }

  /**
   * Commits the batch's positions with what it applied. A store that keeps positions must not move
   * past a rejected record before the dead-letter topic has it, so those batches flush it first.
   * A failed commit keeps what was staged for the next one (the store's contract) and is logged.
   */
  private void commit(Batch b) {
    if (b.rejected && store.durable()) {
      deadLetters.flush();
    }
    try {
      store.commit(b.positions);
    } catch (RuntimeException e) {
      metrics.commitFailed();
      LOG.log(Level.ERROR, "feature store commit failed (retried with the next batch): " + e.getMessage());
    }
  }
}
