package io.hiformer.training;

import static io.hiformer.training.CacheFormat.FLOAT;
import static io.hiformer.training.CacheFormat.INT;
import static io.hiformer.training.CacheFormat.LONG;

import io.hiformer.model.Batch;
import io.hiformer.model.ModelConfig;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.SplittableRandom;
import java.util.zip.CRC32C;

/**
 * The examples of a cache file ({@link CacheFormat}), memory-mapped: the heap holds a few arrays
 * per block and one batch, whatever the file's size. {@link #open} checks the whole file (trailer,
 * footer, key, shape and every block's CRC32C) before anything is handed out, and each block is
 * checked again as a pass reaches it, so a file damaged on disk is never trained on.
 *
 * <p>Shuffled passes visit the blocks in a seeded order and draw examples through a window of
 * {@code window} examples, the algorithm of {@code features.data.Shuffle.window} on positions in
 * the file: fill the window, then repeatedly emit a uniformly chosen slot and refill it with the
 * next example. A window at least as large as the data gives a uniform permutation.
 */
final class CachedExamples implements ExampleSource, AutoCloseable {
  private final Path file;
  private final ModelConfig config;
  private final Arena arena;
  private final MemorySegment data;
  private final int cats;
  private final int bags;
  private final int dense;
  private final int tasks;
  private final long count;
  private final String info;
  private final int window;
  private final long[] blockOffset;
  private final int[] blockN;
  private final int[] blockM;
  private final int[] blockCrc;

  private CachedExamples(Path file, ModelConfig config, Arena arena, MemorySegment data, long count, String info,
      int window, long[] blockOffset, int[] blockN, int[] blockM, int[] blockCrc) {
    this.file = file;
    this.config = config;
    this.arena = arena;
    this.data = data;
    this.cats = config.categoricalFields().size();
    this.bags = config.bagFields().size();
    this.dense = config.numDense();
    this.tasks = config.numTasks();
    this.count = count;
    this.info = info;
    this.window = window;
    this.blockOffset = blockOffset;
    this.blockN = blockN;
    this.blockM = blockM;
    this.blockCrc = blockCrc;
  }

  /** Thrown when a cache file is missing, truncated, damaged, or of other data. */
  static final class Invalid extends IOException {
    Invalid(String message) {
      super(message);
    }
  }

  /**
   * Maps and checks {@code file}: it must be complete, of {@code key} and {@code config}'s shape,
   * and every block must match its checksum; otherwise throws {@link Invalid} saying why.
   */
  static CachedExamples open(Path file, ModelConfig config, byte[] key, int window) throws IOException {
    Arena arena = Arena.ofShared();
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      long size = ch.size();
      if (size < CacheFormat.HEADER_BYTES + CacheFormat.TRAILER_BYTES) {
        throw new Invalid(file + ": truncated (" + size + " bytes)");
      }
      MemorySegment seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
      return check(file, seg, size, config, key, arena, window);
    } catch (IOException | RuntimeException e) {
      arena.close();
      throw e instanceof Invalid inv ? inv : e instanceof IOException io ? io
          : new Invalid(file + ": unreadable: " + e.getMessage());
    }
  }

  private static CachedExamples check(Path file, MemorySegment seg, long size, ModelConfig config, byte[] key,
      Arena arena, int window) throws Invalid {
    if (seg.get(LONG, size - 8) != CacheFormat.END) {
      throw new Invalid(file + ": truncated (no end marker)");
    }
    long footer = seg.get(LONG, size - 16);
    if (seg.get(LONG, 0) != CacheFormat.MAGIC || seg.get(INT, 8) != CacheFormat.VERSION) {
      throw new Invalid(file + ": not an example cache of format " + CacheFormat.VERSION);
    }
    int[] shape = {config.categoricalFields().size(), config.bagFields().size(), config.numDense(), config.numTasks()};
    for (int i = 0; i < 4; i++) {
      if (seg.get(INT, 12 + 4 * i) != shape[i]) {
        throw new Invalid(file + ": made for another model shape");
      }
    }
    byte[] stored = seg.asSlice(32, 32).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
    if (!Arrays.equals(stored, key)) {
      throw new Invalid(file + ": made from other data or transforms");
    }
    if (footer < CacheFormat.HEADER_BYTES || footer > size - CacheFormat.TRAILER_BYTES - 20) {
      throw new Invalid(file + ": bad footer offset");
    }
    int blocks = seg.get(INT, footer);
    long count = seg.get(LONG, footer + 8);
    long entries = footer + 16;
    long infoAt = entries + (long) blocks * CacheFormat.BLOCK_ENTRY_BYTES;
    if (blocks < 0 || infoAt + 8 > size - CacheFormat.TRAILER_BYTES) {
      throw new Invalid(file + ": bad footer");
    }
    int infoLength = seg.get(INT, infoAt);
    long crcAt = infoAt + 4 + infoLength;
    if (infoLength < 0 || crcAt + 4 != size - CacheFormat.TRAILER_BYTES) {
      throw new Invalid(file + ": bad footer");
    }
    if (crc(seg, footer, crcAt - footer) != seg.get(INT, crcAt)) {
      throw new Invalid(file + ": footer checksum mismatch");
    }
    String info = new String(seg.asSlice(infoAt + 4, infoLength).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE),
        StandardCharsets.UTF_8);
    long[] offset = new long[blocks];
    int[] n = new int[blocks];
    int[] m = new int[blocks];
    int[] crc = new int[blocks];
    long total = 0;
    long expectedAt = CacheFormat.HEADER_BYTES;
    for (int b = 0; b < blocks; b++) {
      long e = entries + (long) b * CacheFormat.BLOCK_ENTRY_BYTES;
      offset[b] = seg.get(LONG, e);
      n[b] = seg.get(INT, e + 8);
      m[b] = seg.get(INT, e + 12);
      crc[b] = seg.get(INT, e + 16);
      if (offset[b] != expectedAt || n[b] <= 0 || m[b] < 0) {
        throw new Invalid(file + ": block " + b + " is not where the footer says");
      }
      long bytes = blockBytes(n[b], m[b], shape);
      expectedAt += bytes;
      if (expectedAt > footer || seg.get(INT, offset[b]) != n[b] || seg.get(INT, offset[b] + 4) != m[b]) {
        throw new Invalid(file + ": block " + b + " does not match the footer");
      }
      if (crc(seg, offset[b], bytes) != crc[b]) {
        throw new Invalid(file + ": block " + b + " checksum mismatch");
      }
      total += n[b];
    }
    if (total != count || expectedAt != footer) {
      throw new Invalid(file + ": the blocks hold " + total + " examples, the footer says " + count);
    }
    return new CachedExamples(file, config, arena, seg, count, info, window, offset, n, m, crc);
  }

  private static long blockBytes(int n, int m, int[] shape) {
    return 8 + 4L * ((long) n * shape[0] + (long) n * shape[1] + 1 + m + (long) n * shape[2] + 2L * n * shape[3]);
  }

  private static int crc(MemorySegment seg, long offset, long length) {
    CRC32C crc = new CRC32C();
    for (long at = 0; at < length; at += Integer.MAX_VALUE - 8) {
      crc.update(seg.asSlice(offset + at, Math.min(length - at, Integer.MAX_VALUE - 8)).asByteBuffer());
    }
    return (int) crc.getValue();
  }

  @Override
  public ModelConfig config() {
    return config;
  }

  @Override
  public long count() {
    return count;
  }

  /** The text stored with the examples when the cache was made. */
  public String info() {
    return info;
  }

  public Path file() {
    return file;
  }

  @Override
  public Iterable<Batch> batches(int batchSize, boolean shuffle, long seed) {
    return () -> new Reader(batchSize, shuffle, seed);
  }

  /** Unmaps the file; batches must not be used afterwards. */
  @Override
  public void close() {
    arena.close();
  }

  /**
   * Shuffled passes assembled on {@code threads} threads, each pass handing out exactly the
   * batches of {@code batches(batchSize, true, seed)} in the same order.
   */
  @Override
  public BatchFeed feed(int batchSize, int threads) {
    return new ParallelFeed(this, batchSize, threads);
  }

  /** One pass: the planned order's examples copied into one reused batch. */
  private final class Reader implements Iterator<Batch> {
    private final Batch batch;
    private final Order order = new Order();
    private final Rows rows = new Rows();
    private final long[] positions;

    Reader(int batchSize, boolean shuffle, long seed) {
      this.batch = new Batch(config, batchSize);
      this.positions = new long[batchSize];
      order.start(shuffle, seed);
    }

    @Override
    public boolean hasNext() {
      return order.remaining() > 0;
    }

    @Override
    public Batch next() {
      if (!hasNext()) {
        throw new NoSuchElementException();
      }
      rows.fill(batch, positions, order.next(positions, positions.length));
      return batch;
    }
  }

  /**
   * The order of a pass, as positions {@code block << 32 | row}: blocks in order (or a seeded
   * order), examples through the shuffle window. Sequential by nature (each pick depends on the
   * window's state); cheap next to copying the examples, which {@link Rows} does. Reusable: the
   * window is allocated once.
   */
  final class Order {
    private final int[] blocks = new int[blockN.length];
    private long[] slots;
    private SplittableRandom random;
    private boolean shuffle;
    private int filled;
    private int nextBlock;
    private int nextRow;
    private long handed;

    /** Starts a pass: in stored order, or shuffled by {@code seed}. */
    void start(boolean shuffle, long seed) {
      this.shuffle = shuffle;
      filled = 0;
      nextBlock = 0;
      nextRow = 0;
      handed = 0;
      for (int i = 0; i < blocks.length; i++) {
        blocks[i] = i;
      }
      if (!shuffle) {
        return;
      }
      random = new SplittableRandom(seed);
      for (int i = blocks.length - 1; i > 0; i--) {
        int j = random.nextInt(i + 1);
        int t = blocks[i];
        blocks[i] = blocks[j];
        blocks[j] = t;
      }
      int size = (int) Math.max(1, Math.min(window, count));
      if (slots == null || slots.length != size) {
        slots = new long[size];
      }
      while (filled < size && hasSource()) {
        slots[filled++] = nextSource();
      }
    }

    /** Examples this pass has still to hand out. */
    long remaining() {
      return count - handed;
    }

    /** Writes the next examples' positions, at most {@code max}, to {@code out}; returns how many. */
    int next(long[] out, int max) {
      int n = (int) Math.min(max, remaining());
      for (int i = 0; i < n; i++) {
        if (!shuffle) {
          out[i] = nextSource();
        } else {
          int pick = random.nextInt(filled);
          out[i] = slots[pick];
          if (hasSource()) {
            slots[pick] = nextSource();
          } else {
            slots[pick] = slots[--filled];
          }
        }
      }
      handed += n;
      return n;
    }

    private boolean hasSource() {
      return nextBlock < blocks.length;
    }

    /** The next example in block order; checks a block as it starts it. */
    private long nextSource() {
      int b = blocks[nextBlock];
      if (nextRow == 0) {
        verify(b);
      }
      long at = ((long) b << 32) | nextRow;
      if (++nextRow == blockN[b]) {
        nextRow = 0;
        nextBlock++;
      }
      return at;
    }
  }

  /** Copies examples from the mapped file into a batch; one per thread (it holds one example's arrays). */
  final class Rows {
    private final int[] cat = new int[cats];
    private final int[] ends = new int[bags];
    private int[] ids = new int[64];
    private final float[] den = new float[dense];
    private final float[] lab = new float[tasks];
    private final float[] msk = new float[tasks];

    /** Empties {@code batch} and fills it with the examples at {@code positions[0 .. n)}. */
    void fill(Batch batch, long[] positions, int n) {
      batch.clear();
      for (int i = 0; i < n; i++) {
        add(batch, (int) (positions[i] >>> 32), (int) positions[i]);
      }
    }

    private void add(Batch batch, int b, int row) {
      int n = blockN[b];
      long catAt = blockOffset[b] + 8;
      long offAt = catAt + 4L * n * cats;
      long idsAt = offAt + 4L * (n * bags + 1);
      long denseAt = idsAt + 4L * blockM[b];
      long labelAt = denseAt + 4L * n * dense;
      long maskAt = labelAt + 4L * n * tasks;
      MemorySegment.copy(data, INT, catAt + 4L * row * cats, cat, 0, cats);
      if (bags > 0) {
        int from = data.get(INT, offAt + 4L * row * bags);
        int to = data.get(INT, offAt + 4L * (row * bags + bags));
        if (to - from > ids.length) {
          ids = new int[Math.max(to - from, ids.length * 2)];
        }
        MemorySegment.copy(data, INT, idsAt + 4L * from, ids, 0, to - from);
        for (int k = 0; k < bags; k++) {
          ends[k] = data.get(INT, offAt + 4L * (row * bags + k + 1)) - from;
        }
      }
      MemorySegment.copy(data, FLOAT, denseAt + 4L * row * dense, den, 0, dense);
      MemorySegment.copy(data, FLOAT, labelAt + 4L * row * tasks, lab, 0, tasks);
      MemorySegment.copy(data, FLOAT, maskAt + 4L * row * tasks, msk, 0, tasks);
      batch.addPacked(cat, ids, ends, den, lab, msk);
    }
  }

  /** Checks block {@code b} against its checksum again: the file may have changed since {@link #open}. */
  private void verify(int b) {
    int[] shape = {cats, bags, dense, tasks};
    if (crc(data, blockOffset[b], blockBytes(blockN[b], blockM[b], shape)) != blockCrc[b]) {
      throw new IllegalStateException(file + ": block " + b + " changed on disk during the run (checksum mismatch);"
          + " delete the file and run again");
    }
  }
}
