package io.hiformer.training;

import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * The layout of a featurised example cache file, little-endian throughout:
 *
 * <pre>
 *   header (64 bytes): magic "HFXCACHE", format version, #categorical, #bag, #dense, #tasks, 0,
 *                      the 32-byte key (SHA-256 of what the examples were made from)
 *   blocks, each:      n, m (bag ids), then columns: categorical ids int[n * #categorical],
 *                      bag offsets int[n * #bag + 1] (from 0 within the block), bag ids int[m],
 *                      dense float[n * #dense], labels float[n * #tasks], mask float[n * #tasks]
 *   footer:            #blocks, 0, examples (long); per block its offset (long), n, m, CRC32C;
 *                      info length, info (UTF-8); CRC32C of the footer so far
 *   trailer (16):      footer offset (long), magic "HFXEND!!"
 * </pre>
 *
 * Every block's CRC32C covers its bytes, the footer's its own; a file whose trailer, footer or
 * any block does not check out is not used.
 */
final class CacheFormat {
  static final long MAGIC = bytes("HFXCACHE");
  static final long END = bytes("HFXEND!!");
  static final int VERSION = 2;
  static final int HEADER_BYTES = 64;
  static final int TRAILER_BYTES = 16;
  static final int BLOCK_ENTRY_BYTES = 20;
  /** Examples per block: about a megabyte for a typical row. */
  static final int BLOCK_EXAMPLES = 16_384;
  static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

  private CacheFormat() {}

  private static long bytes(String eight) {
    byte[] b = eight.getBytes(StandardCharsets.US_ASCII);
    long v = 0;
    for (int i = 7; i >= 0; i--) {
      v = (v << 8) | (b[i] & 0xff);
    }
    return v;
  }
}
