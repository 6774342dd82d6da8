package io.hiformer.features.online;

import io.hiformer.features.FeatureSchema;
import io.hiformer.proto.EntityKind;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.HdrHistogram.Histogram;
import org.apache.kafka.common.TopicPartition;

/**
 * Both online stores on the same data, in one run (see {@code features/README.md}, "Disk-backed
 * store"): loads {@code --users} users and {@code --items} items of 10 fields each through
 * {@link OnlineStore#apply} and {@link OnlineStore#commit} in batches of 500 (what the ingestor
 * does per poll), first into a {@link RocksDbFeatureStore} in {@code --dir}, then into a
 * {@link FeatureStore} of at most {@code --memory-cap} per kind, reporting records/s for each;
 * then times {@code --lookups} Rank calls' lookups (one random user and 200 random items) against
 * each with HdrHistogram: the disk store just after its load and again once settled (memtables
 * flushed, compactions done). The directory is deleted at the end.
 *
 * <p>Arguments: {@code --users N --items M --memory-cap C --lookups L --cache-mb MB --dir DIR}
 * (defaults 1,000,000, 100,000, 300,000, 20,000, 256, a temporary directory).
 */
public final class StoreBenchmark {
  private static final int BATCH = 500;
  private static final int CANDIDATES = 200;
  private static final long EPOCH = 1_700_000_000_000L;
  private static final FeatureSchema SCHEMA = FeatureSchema.parse("""
      tasks: [{name: click}]
      fields:
        - {name: user_id, kind: categorical, side: user}
        - {name: country, kind: categorical, side: user}
        - {name: language, kind: categorical, side: user}
        - {name: device, kind: categorical, side: user}
        - {name: city, kind: categorical, side: user, hash_buckets: 1000}
        - {name: segment, kind: categorical, side: user}
        - {name: cohort, kind: categorical, side: user}
        - {name: age, kind: dense, side: user}
        - {name: spend, kind: dense, side: user}
        - {name: sessions, kind: dense, side: user}
        - {name: recent, kind: bag, side: user, hash_buckets: 10000}
        - {name: item_id, kind: categorical, side: item}
        - {name: i_country, column: country, kind: categorical, side: item}
        - {name: i_language, column: language, kind: categorical, side: item}
        - {name: i_device, column: device, kind: categorical, side: item}
        - {name: i_city, column: city, kind: categorical, side: item, hash_buckets: 1000}
        - {name: i_segment, column: segment, kind: categorical, side: item}
        - {name: i_cohort, column: cohort, kind: categorical, side: item}
        - {name: i_age, column: age, kind: dense, side: item}
        - {name: i_spend, column: spend, kind: dense, side: item}
        - {name: i_sessions, column: sessions, kind: dense, side: item}
        - {name: i_recent, column: recent, kind: bag, side: item, hash_buckets: 10000}
      """);

  public static void main(String[] args) throws Exception {
    Map<String, String> a = new HashMap<>(Map.of("users", "1000000", "items", "100000", "memory-cap", "300000",
        "lookups", "20000", "cache-mb", "256", "dir", ""));
    for (int i = 0; i + 1 < args.length; i += 2) {
      if (!args[i].startsWith("--") || !a.containsKey(args[i].substring(2))) {
        throw new IllegalArgumentException("unknown argument " + args[i] + "; known: " + a.keySet());
      }
      a.put(args[i].substring(2), args[i + 1]);
    }
    int users = Integer.parseInt(a.get("users"));
    int items = Integer.parseInt(a.get("items"));
    int cap = Integer.parseInt(a.get("memory-cap"));
    int lookups = Integer.parseInt(a.get("lookups"));
    Path dir = a.get("dir").isEmpty() ? Files.createTempDirectory("hiformer-store-bench") : Path.of(a.get("dir"));
    StoreSchema schema = StoreSchema.of(SCHEMA.fields());
    System.out.printf("%,d users and %,d items of 10 fields; heap max %,d MB; %d cores; load %s%n", users, items,
        Runtime.getRuntime().maxMemory() >> 20, Runtime.getRuntime().availableProcessors(), load());
    try {
      try (RocksDbFeatureStore disk = RocksDbFeatureStore.open(dir, schema, Long.parseLong(a.get("cache-mb")) << 20)) {
        double rate = load(disk, users, items);
        System.out.printf("rocksdb: loaded at %,.0f records/s; %,d MB of table files; %,d users, %,d items held%n", rate,
            disk.diskBytes() >> 20, disk.size(EntityKind.ENTITY_KIND_USER), disk.size(EntityKind.ENTITY_KIND_ITEM));
        lookups(disk, "rocksdb, just after the load", users, items, lookups);
        settle(disk);
        lookups(disk, "rocksdb, settled", users, items, lookups);
      }
      System.gc();
      FeatureStore memory = new FeatureStore(schema, cap);
      double rate = load(memory, users, items);
      System.out.printf("memory (at most %,d per kind): loaded at %,.0f records/s; %,d users, %,d items held%n", cap,
          rate, memory.size(EntityKind.ENTITY_KIND_USER), memory.size(EntityKind.ENTITY_KIND_ITEM));
      lookups(memory, "memory", users, items, lookups);
      System.out.printf("load after: %s%n", load());
    } finally {
      delete(dir);
    }
  }

  /**
   * Applies every user's then every item's update, committing every 500 as the ingestor does;
   * returns records/s and prints the process CPU per record (background compaction and GC included).
   */
  private static double load(OnlineStore store, int users, int items) {
    Random random = new Random(1);
    TopicPartition tp = new TopicPartition("bench", 0);
    long cpu = IngestBenchmark.cpuNanos();
    long start = System.nanoTime();
    long next = start + 30_000_000_000L;
    int total = users + items;
    for (int i = 0; i < total; i++) {
      var u = i < users ? IngestBenchmark.tenFields("u" + i, EPOCH + i, random)
          : IngestBenchmark.tenFields("i" + (i - users), EPOCH + i, random).toBuilder()
              .setEntityKind(EntityKind.ENTITY_KIND_ITEM).build();
      Rejection r = store.apply(u);
      if (r != null) {
        throw new IllegalStateException(r.toString());
      }
      if ((i + 1) % BATCH == 0 || i + 1 == total) {
        store.commit(Map.of(tp, i + 1L));
        if (System.nanoTime() > next) {
          next += 30_000_000_000L;
          System.out.printf("  %,d records after %.0f s%n", i + 1, (System.nanoTime() - start) / 1e9);
        }
      }
    }
    double seconds = (System.nanoTime() - start) / 1e9;
    System.out.printf("  %,d records in %.0f s, %.1f us of process CPU each%n", total, seconds,
        (IngestBenchmark.cpuNanos() - cpu) / 1e3 / total);
    return total / seconds;
  }

  /** One random user and 200 random items per call, timed together; a warm-up of a tenth first. */
  private static void lookups(OnlineStore store, String name, int users, int items, int calls) {
    Random random = new Random(2);
    Histogram h = new Histogram(3_600_000_000_000L, 3);
    Histogram cpu = new Histogram(3_600_000_000_000L, 3);
    ThreadMXBean threads = ManagementFactory.getThreadMXBean();
    List<String> ids = new ArrayList<>(CANDIDATES);
    StoredEntity[] out = new StoredEntity[CANDIDATES];
    long found = 0;
    long asked = 0;
    int warmup = calls / 10;
    for (int c = 0; c < warmup + calls; c++) {
      String user = "u" + random.nextInt(users);
      ids.clear();
      for (int i = 0; i < CANDIDATES; i++) {
        ids.add("i" + random.nextInt(items));
      }
      long cpu0 = threads.getCurrentThreadCpuTime();
      long t0 = System.nanoTime();
      StoredEntity u = store.user(user);
      store.items(ids, CANDIDATES, out);
      long ns = System.nanoTime() - t0;
      long cpuNs = threads.getCurrentThreadCpuTime() - cpu0;
      if (c >= warmup) {
        h.recordValue(ns);
        cpu.recordValue(Math.max(0, cpuNs));
        asked += 1 + CANDIDATES;
        found += u == null ? 0 : 1;
        for (StoredEntity e : out) {
          found += e == null ? 0 : 1;
        }
      }
    }
    System.out.printf("%s: %,d calls of 1 user + %d items: p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.3f ms;"
        + " %.1f%% found%n", name, calls, CANDIDATES, h.getValueAtPercentile(50) / 1e6,
        h.getValueAtPercentile(99) / 1e6, h.getValueAtPercentile(99.9) / 1e6, h.getMaxValue() / 1e6,
        100.0 * found / asked);
    // The thread's own CPU per call: the work, without the waits other processes' load adds.
    System.out.printf("%s: thread CPU per call: p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms%n", name,
        cpu.getValueAtPercentile(50) / 1e6, cpu.getValueAtPercentile(99) / 1e6, cpu.getValueAtPercentile(99.9) / 1e6);
  }

  /**
   * The state a ranker reaches a while after its catch-up: memtables flushed, background
   * compactions done (waiting up to 20 minutes).
   */
  private static void settle(RocksDbFeatureStore disk) throws InterruptedException {
    long start = System.nanoTime();
    System.out.printf("  compaction pending %d; flushing and waiting for compactions%n",
        disk.property("rocksdb.compaction-pending"));
    disk.flush();
    long deadline = start + 20 * 60_000_000_000L;
    while (System.nanoTime() < deadline && (disk.property("rocksdb.compaction-pending") != 0
        || disk.property("rocksdb.num-running-compactions") != 0 || disk.property("rocksdb.num-running-flushes") != 0)) {
      Thread.sleep(1000);
    }
    System.out.printf("  settled after %.0f s: %,d MB of table files%n", (System.nanoTime() - start) / 1e9,
        disk.diskBytes() >> 20);
  }

  private static String load() {
    try {
      return Files.readString(Path.of("/proc/loadavg")).strip();
    } catch (IOException e) {
      return "?";
    }
  }

  private static void delete(Path dir) throws IOException {
    if (Files.exists(dir)) {
      try (Stream<Path> s = Files.walk(dir)) {
        for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
          Files.delete(p);
        }
      }
    }
  }
}
