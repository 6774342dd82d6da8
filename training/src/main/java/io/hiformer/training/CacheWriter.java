package io.hiformer.training;

import io.hiformer.model.Batch;
import io.hiformer.model.ModelConfig;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.zip.CRC32C;

/**
 * Writes a featurised example cache file ({@link CacheFormat}) block by block: memory is one
 * block whatever the number of examples. Writes to a temporary name and moves the finished file
 * into place atomically, so a run that dies half-way leaves no file that looks complete.
 */
final class CacheWriter implements AutoCloseable {
  private final Path target;
  private final Path temp;
  private final FileChannel channel;
  private final int cats;
  private final int bags;
  private final int dense;
  private final int tasks;
  private int n;
  private int m;
  private int[] catIds;
  private int[] bagOffsets;
  private int[] bagIds = new int[1024];
  private float[] denseValues;
  private float[] labels;
  private float[] masks;
  private ByteBuffer block = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
  private ByteBuffer footer = ByteBuffer.allocate(1 << 12).order(ByteOrder.LITTLE_ENDIAN);
  private int blocks;
  private long examples;
  private long position;
  private boolean finished;

  CacheWriter(Path target, ModelConfig config, byte[] key) throws IOException {
    this.target = target;
    this.temp = target.resolveSibling(target.getFileName() + ".tmp-" + ProcessHandle.current().pid());
    this.cats = config.categoricalFields().size();
    this.bags = config.bagFields().size();
    this.dense = config.numDense();
    this.tasks = config.numTasks();
    int b = CacheFormat.BLOCK_EXAMPLES;
    catIds = new int[b * cats];
    bagOffsets = new int[b * bags + 1];
    denseValues = new float[b * dense];
    labels = new float[b * tasks];
    masks = new float[b * tasks];
    Files.createDirectories(target.getParent());
    channel = FileChannel.open(temp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
        StandardOpenOption.WRITE);
    ByteBuffer header = ByteBuffer.allocate(CacheFormat.HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
    header.putLong(CacheFormat.MAGIC).putInt(CacheFormat.VERSION).putInt(cats).putInt(bags).putInt(dense)
        .putInt(tasks).putInt(0).put(key).flip();
    write(header);
  }

  /** Appends every example of {@code batch}. */
  void add(Batch batch) throws IOException {
    for (int b = 0; b < batch.size(); b++) {
      for (int c = 0; c < cats; c++) {
        catIds[n * cats + c] = batch.categorical(b, c);
      }
      for (int k = 0; k < bags; k++) {
        int len = batch.bagEnd(b, k) - batch.bagStart(b, k);
        if (m + len > bagIds.length) {
          bagIds = Arrays.copyOf(bagIds, Math.max(m + len, bagIds.length * 2));
        }
        for (int p = batch.bagStart(b, k); p < batch.bagEnd(b, k); p++) {
          bagIds[m++] = batch.bagId(p);
        }
        bagOffsets[n * bags + k + 1] = m;
      }
      for (int d = 0; d < dense; d++) {
        denseValues[n * dense + d] = batch.dense(b, d);
      }
      for (int t = 0; t < tasks; t++) {
        labels[n * tasks + t] = batch.label(b, t);
        masks[n * tasks + t] = batch.labelMask(b, t);
      }
      if (++n == CacheFormat.BLOCK_EXAMPLES) {
        flush();
      }
    }
  }

  long examples() {
    return examples + n;
  }

  private void flush() throws IOException {
    if (n == 0) {
      return;
    }
    int ints = n * cats + n * bags + 1 + m;
    int floats = n * dense + 2 * n * tasks;
    int bytes = 8 + 4 * (ints + floats);
    if (block.capacity() < bytes) {
      block = ByteBuffer.allocate(Math.max(bytes, block.capacity() * 2)).order(ByteOrder.LITTLE_ENDIAN);
    }
    block.clear();
    block.putInt(n).putInt(m);
    block.asIntBuffer().put(catIds, 0, n * cats);
    block.position(block.position() + 4 * n * cats);
    block.asIntBuffer().put(bagOffsets, 0, n * bags + 1);
    block.position(block.position() + 4 * (n * bags + 1));
    block.asIntBuffer().put(bagIds, 0, m);
    block.position(block.position() + 4 * m);
    putFloats(denseValues, n * dense);
    putFloats(labels, n * tasks);
    putFloats(masks, n * tasks);
    block.flip();
    CRC32C crc = new CRC32C();
    crc.update(block.duplicate());
    long offset = position;
    write(block);
    if (footer.remaining() < CacheFormat.BLOCK_ENTRY_BYTES) {
      footer = ByteBuffer.allocate(footer.capacity() * 2).order(ByteOrder.LITTLE_ENDIAN).put(footer.flip());
    }
    footer.putLong(offset).putInt(n).putInt(m).putInt((int) crc.getValue());
    blocks++;
    examples += n;
    n = 0;
    m = 0;
  }

  private void putFloats(float[] values, int count) {
    block.asFloatBuffer().put(values, 0, count);
    block.position(block.position() + 4 * count);
  }

  private void write(ByteBuffer buffer) throws IOException {
    while (buffer.hasRemaining()) {
      position += channel.write(buffer);
    }
  }

  /**
   * Writes the footer ({@code info}: a short text stored with the examples, e.g. counts of skipped
   * rows), forces the file to disk and moves it into place.
   */
  void finish(String info) throws IOException {
    flush();
    byte[] text = info.getBytes(StandardCharsets.UTF_8);
    ByteBuffer all = ByteBuffer.allocate(16 + footer.position() + 4 + text.length + 4 + CacheFormat.TRAILER_BYTES)
        .order(ByteOrder.LITTLE_ENDIAN);
    all.putInt(blocks).putInt(0).putLong(examples).put(footer.flip()).putInt(text.length).put(text);
    CRC32C crc = new CRC32C();
    crc.update(all.array(), 0, all.position());
    all.putInt((int) crc.getValue());
    long footerOffset = position;
    all.putLong(footerOffset).putLong(CacheFormat.END).flip();
    write(all);
    channel.force(true);
    channel.close();
    Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    finished = true;
  }

  /** Without {@link #finish}: abandons the file. */
  @Override
  public void close() throws IOException {
    if (!finished) {
      channel.close();
      Files.deleteIfExists(temp);
    }
  }
}
