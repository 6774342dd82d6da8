package io.hiformer.features.online;

import io.hiformer.features.online.Rejection.Reason;
import io.hiformer.features.online.StoreSchema.EntitySchema;
import io.hiformer.proto.EntityKind;
import io.hiformer.proto.FeatureUpdate;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import org.apache.kafka.common.TopicPartition;
import org.rocksdb.BlockBasedTableConfig;
import org.rocksdb.BloomFilter;
import org.rocksdb.ColumnFamilyDescriptor;
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.ColumnFamilyOptions;
import org.rocksdb.CompressionType;
import org.rocksdb.DBOptions;
import org.rocksdb.DataBlockIndexType;
import org.rocksdb.InfoLogLevel;
import org.rocksdb.LRUCache;
import org.rocksdb.Options;
import org.rocksdb.ReadOptions;
import org.rocksdb.RocksDB;
import org.rocksdb.RocksDBException;
import org.rocksdb.RocksIterator;
import org.rocksdb.WriteBatch;
import org.rocksdb.WriteOptions;

/**
 * The disk-backed online store: every user and item in a RocksDB database in a local directory, a
 * full replica with no entity limit (see {@code features/README.md}, "Disk-backed store").
 *
 * <ul>
 *   <li>Same rules as {@link FeatureStore} ({@link UpdateMerge}): validation, last-writer-wins per
 *       column, tombstones remove.
 *   <li>Writes are staged in a write batch and written by {@link #commit} together with the
 *       ingestion positions and the entity counts, atomically: a restart resumes from the
 *       positions of the data it holds, so nothing is lost and nothing is read twice. Reads see a
 *       batch once committed.
 *   <li>Values: one key per entity (its UTF-8 id) in a column family per kind ({@code users},
 *       {@code items}; an item lookup searches only items' files), the {@link EntityCodec} bytes with each column's event time. The database records the
 *       {@link StoreSchema} it was written with; opened with another schema, it starts over empty
 *       (and ingestion reads the topics from the beginning).
 *   <li>Tuned for point lookups: bloom filters (10 bits a key), a hash index in data blocks, an
 *       LRU block cache outside the heap, LZ4 blocks.
 * </ul>
 */
public final class RocksDbFeatureStore implements OnlineStore {
  private static final System.Logger LOG = System.getLogger(RocksDbFeatureStore.class.getName());
  /** The default block cache: 256 MiB outside the heap. */
  public static final long DEFAULT_CACHE_BYTES = 256L << 20;

  private static final byte[] SCHEMA_KEY = meta("schema");
  private static final byte[][] COUNT_KEYS = {meta("count user"), meta("count item")};
  private static final String POSITION_PREFIX = "position ";
  // Stands in the staged map for an entity removed in the batch not yet committed.
  private static final StoredEntity GONE = new StoredEntity(null, new long[0], new Object[0]);

  static {
    RocksDB.loadLibrary();
  }

  private final Path dir;
  private final StoreSchema schema;
  private final LRUCache cache;
  private final BloomFilter filter;
  private final DBOptions dbOptions;
  private final ColumnFamilyOptions familyOptions;
  // The default family (metadata), then users, then items: an item lookup searches only items' files.
  private final List<ColumnFamilyHandle> families = new ArrayList<>();
  private final ReadOptions readOptions;
  private final WriteOptions writeOptions;
  private final RocksDB db;
  private final Map<TopicPartition, Long> positions;
  // Closing waits for reads in flight, so no read touches a closed database.
  private final ReentrantReadWriteLock closeLock = new ReentrantReadWriteLock();
  private boolean closed; // written holding closeLock's write lock and this

  // Writer state, guarded by this.
  private final UpdateMerge[] merges = new UpdateMerge[2];
  private final EntityCodec codec = new EntityCodec();
  private final WriteBatch batch = new WriteBatch();
  @SuppressWarnings("unchecked")
  private final HashMap<String, StoredEntity>[] staged = new HashMap[] {new HashMap<>(), new HashMap<>()};
  private final long[] counts = new long[2];
  private final long[] committedCounts = new long[2];
  private volatile long usersCommitted;
  private volatile long itemsCommitted;

  private RocksDbFeatureStore(Path dir, StoreSchema schema, long cacheBytes) {
    this.dir = dir;
    this.schema = schema;
    this.cache = new LRUCache(cacheBytes);
    this.filter = new BloomFilter(10);
    this.dbOptions = tunedDb();
    this.familyOptions = tunedFamily(cache, filter);
    this.readOptions = new ReadOptions();
    this.writeOptions = new WriteOptions();
    RocksDB opened = null;
    try {
      opened = openDb(dir, dbOptions, familyOptions, families);
      byte[] stored = opened.get(SCHEMA_KEY);
      byte[] wanted = fingerprint(schema);
      if (stored != null && !Arrays.equals(stored, wanted)) {
        LOG.log(Level.WARNING, "feature store " + dir + " was written for other fields ("
            + new String(stored, StandardCharsets.UTF_8) + "); starting it over empty, the feature topics are read"
            + " from the beginning");
        closeDb(opened, families);
        try (Options plain = new Options()) {
          RocksDB.destroyDB(dir.toString(), plain);
        }
        opened = openDb(dir, dbOptions, familyOptions, families);
      }
      opened.put(writeOptions, SCHEMA_KEY, wanted);
      this.positions = readPositions(opened);
      for (int k = 0; k < 2; k++) {
        byte[] c = opened.get(COUNT_KEYS[k]);
        counts[k] = c == null ? 0 : ByteBuffer.wrap(c).getLong();
        committedCounts[k] = counts[k];
      }
    } catch (RocksDBException e) {
      if (opened != null) {
        closeDb(opened, families);
      }
      releaseOptions();
      throw openFailure(dir, e);
    }
    this.db = opened;
    this.usersCommitted = counts[0];
    this.itemsCommitted = counts[1];
    this.merges[0] = new UpdateMerge(EntityKind.ENTITY_KIND_USER, schema.entity(EntityKind.ENTITY_KIND_USER));
    this.merges[1] = new UpdateMerge(EntityKind.ENTITY_KIND_ITEM, schema.entity(EntityKind.ENTITY_KIND_ITEM));
  }

  /**
   * Opens (creating it if needed) the store in {@code dir} for {@code schema}, with a block cache
   * of {@code cacheBytes}. Fails with a one-line {@link IllegalArgumentException} naming the
   * directory when it cannot be created or written, or is in use by another store or process.
   */
  public static RocksDbFeatureStore open(Path dir, StoreSchema schema, long cacheBytes) {
    Objects.requireNonNull(schema, "schema");
    if (cacheBytes < 1) {
      throw new IllegalArgumentException("the feature store's block cache must be positive, got " + cacheBytes);
    }
    return new RocksDbFeatureStore(usableDirectory(dir), schema, cacheBytes);
  }

  /**
   * Checks, before a schema is known, that a store can be opened in {@code dir}: created if
   * missing, writable, not in use. Throws as {@link #open} does.
   */
  public static void probe(Path dir) {
    usableDirectory(dir);
    List<ColumnFamilyHandle> handles = new ArrayList<>();
    try (LRUCache cache = new LRUCache(1 << 20); BloomFilter filter = new BloomFilter(10);
        DBOptions db = tunedDb(); ColumnFamilyOptions family = tunedFamily(cache, filter)) {
      closeDb(openDb(dir, db, family, handles), handles);
    } catch (RocksDBException e) {
      throw openFailure(dir, e);
    }
  }

  private static RocksDB openDb(Path dir, DBOptions db, ColumnFamilyOptions family, List<ColumnFamilyHandle> handles)
      throws RocksDBException {
    handles.clear();
    return RocksDB.open(db, dir.toString(), List.of(
        new ColumnFamilyDescriptor(RocksDB.DEFAULT_COLUMN_FAMILY, family),
        new ColumnFamilyDescriptor("users".getBytes(StandardCharsets.UTF_8), family),
        new ColumnFamilyDescriptor("items".getBytes(StandardCharsets.UTF_8), family)), handles);
  }

  private static void closeDb(RocksDB db, List<ColumnFamilyHandle> handles) {
    handles.forEach(ColumnFamilyHandle::close);
    handles.clear();
    db.close();
  }

  private static DBOptions tunedDb() {
    return new DBOptions()
        .setCreateIfMissing(true)
        .setCreateMissingColumnFamilies(true)
        .setMaxBackgroundJobs(2)
        .setDbWriteBufferSize(192L << 20) // memtables of all families together
        .setInfoLogLevel(InfoLogLevel.WARN_LEVEL)
        .setKeepLogFileNum(3)
        // point lookups read blocks from the page cache through a mapping: no pread per get
        .setAllowMmapReads(true);
  }

  private static ColumnFamilyOptions tunedFamily(LRUCache cache, BloomFilter filter) {
    BlockBasedTableConfig table = new BlockBasedTableConfig()
        .setBlockCache(cache)
        .setFilterPolicy(filter)
        .setWholeKeyFiltering(true)
        .setDataBlockIndexType(DataBlockIndexType.kDataBlockBinaryAndHash)
        .setBlockSize(4096);
    return new ColumnFamilyOptions()
        .setTableFormatConfig(table)
        // uncompressed: a mapped block is read in place, not decompressed into the block cache
        .setCompressionType(CompressionType.NO_COMPRESSION)
        .setLevelCompactionDynamicLevelBytes(true)
        .setWriteBufferSize(64L << 20)
        .setMaxWriteBufferNumber(3)
        .setMemtablePrefixBloomSizeRatio(0.05)
        .setMemtableWholeKeyFiltering(true);
  }

  /** {@code dir}, created if missing; fails naming it when it cannot be created or written. */
  static Path usableDirectory(Path dir) {
    try {
      Files.createDirectories(dir);
    } catch (IOException e) {
      throw new IllegalArgumentException("feature store directory " + dir + " cannot be created ("
          + e.getClass().getSimpleName() + ": " + e.getMessage() + ")");
    }
    if (!Files.isWritable(dir)) {
      throw new IllegalArgumentException("feature store directory " + dir + " is not writable");
    }
    return dir;
  }

  private static IllegalArgumentException openFailure(Path dir, RocksDBException e) {
    String m = String.valueOf(e.getMessage());
    if (m.contains("/LOCK")) {
      return new IllegalArgumentException("feature store directory " + dir
          + " is in use by another process or store (its LOCK file is held)");
    }
    if (m.contains("Permission denied") || m.contains("Read-only file system")) {
      return new IllegalArgumentException("feature store directory " + dir + " is not writable (" + m + ")");
    }
    return new IllegalArgumentException("cannot open feature store directory " + dir + ": " + m);
  }

  @Override
  public StoreSchema schema() {
    return schema;
  }

  @Override
  public StoredEntity user(String id) {
    return get(0, id);
  }

  @Override
  public StoredEntity item(String id) {
    return get(1, id);
  }

  private StoredEntity get(int kind, String id) {
    byte[] value;
    closeLock.readLock().lock();
    try {
      if (closed) {
        return null;
      }
      value = db.get(families.get(kind + 1), readOptions, key(id));
    } catch (RocksDBException e) {
      throw new IllegalStateException("feature store " + dir + ": " + e.getMessage(), e);
    } finally {
      closeLock.readLock().unlock();
    }
    return value == null ? null : EntityCodec.decode(merges[kind].schema(), value);
  }

  /**
   * One point lookup per item under one read lock. Not RocksDB's {@code multiGetAsList}: in
   * RocksJava 10.1.3 it took 50% more CPU than the same lookups one by one (its per-key copies
   * across JNI; {@code multiGetByteBuffers} was on a par with single gets), measured on 200
   * items of 10 fields.
   */
  @Override
  public void items(List<String> ids, int count, StoredEntity[] out) {
    EntitySchema items = merges[1].schema();
    closeLock.readLock().lock();
    try {
      if (closed) {
        Arrays.fill(out, 0, count, null);
        return;
      }
      for (int i = 0; i < count; i++) {
        byte[] v = db.get(families.get(2), readOptions, key(ids.get(i)));
        out[i] = v == null ? null : EntityCodec.decode(items, v);
      }
    } catch (RocksDBException e) {
      throw new IllegalStateException("feature store " + dir + ": " + e.getMessage(), e);
    } finally {
      closeLock.readLock().unlock();
    }
  }

  @Override
  public synchronized Rejection apply(FeatureUpdate update) {
    int kind = switch (update.getEntityKind()) {
      case ENTITY_KIND_USER -> 0;
      case ENTITY_KIND_ITEM -> 1;
      default -> -1;
    };
    if (kind < 0) {
      return new Rejection(Reason.WRONG_ENTITY_KIND, "entity_kind is " + update.getEntityKindValue()
          + "; it must be ENTITY_KIND_USER or ENTITY_KIND_ITEM");
    }
    requireOpen();
    UpdateMerge merge = merges[kind];
    Rejection problem = merge.check(update);
    if (problem != null) {
      return problem;
    }
    String id = update.getEntityId();
    StoredEntity old = current(kind, id);
    StoredEntity next = merge.merge(old);
    if (old == null) {
      counts[kind]++;
    }
    if (next != old) {
      staged[kind].put(id, next);
      try {
        batch.put(families.get(kind + 1), key(id), codec.encode(next));
      } catch (RocksDBException e) {
        throw new IllegalStateException("feature store " + dir + ": " + e.getMessage(), e);
      }
    }
    return null;
  }

  @Override
  public synchronized void remove(EntityKind kind, String id) {
    int k = kind == EntityKind.ENTITY_KIND_USER ? 0 : kind == EntityKind.ENTITY_KIND_ITEM ? 1 : -1;
    Objects.checkIndex(k, 2);
    requireOpen();
    if (current(k, id) != null) {
      counts[k]--;
      staged[k].put(id, GONE);
      try {
        batch.delete(families.get(k + 1), key(id));
      } catch (RocksDBException e) {
        throw new IllegalStateException("feature store " + dir + ": " + e.getMessage(), e);
      }
    }
  }

  /** Writes after close would touch released native objects; called holding this, as close is. */
  private void requireOpen() {
    if (closed) {
      throw new IllegalStateException("feature store " + dir + " is closed");
    }
  }

  /** The entity as this writer last left it: staged, else stored; null when absent. */
  private StoredEntity current(int kind, String id) {
    StoredEntity s = staged[kind].get(id);
    if (s != null) {
      return s == GONE ? null : s;
    }
    return get(kind, id);
  }

  /**
   * Writes the staged values, {@code positions} and the entity counts in one atomic write batch.
   * When the write fails (e.g. a full disk) it throws and keeps everything staged, so the next
   * commit writes it with later positions.
   */
  @Override
  public synchronized void commit(Map<TopicPartition, Long> positions) {
    requireOpen();
    try {
      for (Map.Entry<TopicPartition, Long> p : positions.entrySet()) {
        batch.put(positionKey(p.getKey()), ByteBuffer.allocate(8).putLong(p.getValue()).array());
      }
      for (int k = 0; k < 2; k++) {
        if (counts[k] != committedCounts[k]) {
          batch.put(COUNT_KEYS[k], ByteBuffer.allocate(8).putLong(counts[k]).array());
        }
      }
      if (batch.count() == 0) {
        return;
      }
      closeLock.readLock().lock();
      try {
        if (closed) {
          throw new IllegalStateException("feature store " + dir + " is closed");
        }
        db.write(writeOptions, batch);
      } finally {
        closeLock.readLock().unlock();
      }
    } catch (RocksDBException e) {
      throw new IllegalStateException("feature store " + dir + ": writing failed: " + e.getMessage(), e);
    }
    batch.clear();
    staged[0].clear();
    staged[1].clear();
    committedCounts[0] = counts[0];
    committedCounts[1] = counts[1];
    usersCommitted = counts[0];
    itemsCommitted = counts[1];
  }

  @Override
  public boolean durable() {
    return true;
  }

  /** The positions of the last commit before this store was opened. */
  @Override
  public Map<TopicPartition, Long> positions() {
    return positions;
  }

  @Override
  public long size(EntityKind kind) {
    return switch (kind) {
      case ENTITY_KIND_USER -> usersCommitted;
      case ENTITY_KIND_ITEM -> itemsCommitted;
      default -> throw new IllegalArgumentException("no stored features for entity kind " + kind);
    };
  }

  /** The bytes of the database's files on disk (SST files; the write-ahead log aside). */
  public long diskBytes() {
    closeLock.readLock().lock();
    try {
      return closed ? 0 : db.getAggregatedLongProperty("rocksdb.total-sst-files-size");
    } catch (RocksDBException e) {
      return -1;
    } finally {
      closeLock.readLock().unlock();
    }
  }

  /** A RocksDB integer property ({@code rocksdb.num-files-at-level0}, ...), or -1 when closed or unknown. */
  long property(String name) {
    closeLock.readLock().lock();
    try {
      return closed ? -1 : db.getAggregatedLongProperty(name);
    } catch (RocksDBException e) {
      return -1;
    } finally {
      closeLock.readLock().unlock();
    }
  }

  /** Writes the memtables to table files and waits (for benchmarks: lookups then read files only). */
  void flush() {
    closeLock.readLock().lock();
    try (org.rocksdb.FlushOptions wait = new org.rocksdb.FlushOptions().setWaitForFlush(true)) {
      if (!closed) {
        db.flush(wait);
      }
    } catch (RocksDBException e) {
      throw new IllegalStateException("feature store " + dir + ": flush failed: " + e.getMessage(), e);
    } finally {
      closeLock.readLock().unlock();
    }
  }

  @Override
  public void bindTo(MeterRegistry registry) {
    Gauge.builder("hiformer.features.entities", this, s -> s.usersCommitted).tag("kind", "user")
        .description("entities held by the online feature store").register(registry);
    Gauge.builder("hiformer.features.entities", this, s -> s.itemsCommitted).tag("kind", "item")
        .description("entities held by the online feature store").register(registry);
    Gauge.builder("hiformer.features.store.disk", this, RocksDbFeatureStore::diskBytes).baseUnit("bytes")
        .description("bytes of the disk-backed feature store's table files").register(registry);
  }

  /**
   * Drops what is staged (not committed: ingestion reads it again after a restart) and closes the
   * database, after the reads in flight; reads after it find nothing.
   */
  @Override
  public synchronized void close() {
    closeLock.writeLock().lock();
    try {
      if (closed) {
        return;
      }
      closed = true;
      try {
        db.syncWal();
      } catch (RocksDBException e) {
        LOG.log(Level.WARNING, "feature store " + dir + ": syncing the write-ahead log failed: " + e.getMessage());
      }
      closeDb(db, families);
      batch.close();
      releaseOptions();
    } finally {
      closeLock.writeLock().unlock();
    }
  }

  private void releaseOptions() {
    readOptions.close();
    writeOptions.close();
    familyOptions.close();
    dbOptions.close();
    filter.close();
    cache.close();
  }

  private static Map<TopicPartition, Long> readPositions(RocksDB db) {
    Map<TopicPartition, Long> out = new HashMap<>();
    byte[] prefix = meta(POSITION_PREFIX);
    try (RocksIterator it = db.newIterator()) {
      for (it.seek(prefix); it.isValid() && startsWith(it.key(), prefix); it.next()) {
        String rest = new String(it.key(), prefix.length, it.key().length - prefix.length, StandardCharsets.UTF_8);
        int space = rest.lastIndexOf(' ');
        out.put(new TopicPartition(rest.substring(0, space), Integer.parseInt(rest.substring(space + 1))),
            ByteBuffer.wrap(it.value()).getLong());
      }
    }
    return Map.copyOf(out);
  }

  private static boolean startsWith(byte[] key, byte[] prefix) {
    return key.length >= prefix.length && Arrays.equals(key, 0, prefix.length, prefix, 0, prefix.length);
  }

  /** What slots mean: the columns and accepted kinds of both sides, and the value format. */
  private static byte[] fingerprint(StoreSchema schema) {
    StringBuilder sb = new StringBuilder("format ").append(EntityCodec.FORMAT);
    for (EntityKind kind : List.of(EntityKind.ENTITY_KIND_USER, EntityKind.ENTITY_KIND_ITEM)) {
      EntitySchema e = schema.entity(kind);
      sb.append(kind == EntityKind.ENTITY_KIND_USER ? "; users" : "; items");
      for (int i = 0; i < e.size(); i++) {
        sb.append(' ').append(e.columns[i]).append(':').append(e.accepted[i]);
      }
    }
    return sb.toString().getBytes(StandardCharsets.UTF_8);
  }

  /** Metadata keys (in the default family) start with a zero byte. */
  private static byte[] meta(String name) {
    byte[] b = name.getBytes(StandardCharsets.UTF_8);
    byte[] key = new byte[b.length + 1];
    System.arraycopy(b, 0, key, 1, b.length);
    return key;
  }

  private static byte[] positionKey(TopicPartition tp) {
    return meta(POSITION_PREFIX + tp.topic() + " " + tp.partition());
  }

  private static byte[] key(String id) {
    return id.getBytes(StandardCharsets.UTF_8);
  }
}
