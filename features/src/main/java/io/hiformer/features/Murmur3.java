package io.hiformer.features;

import java.nio.charset.StandardCharsets;

/**
 * MurmurHash3 x86_32 (Austin Appleby's public-domain algorithm) over the UTF-8 bytes of a
 * string, seed 0. Chosen for hash buckets because it is fixed forever (unlike
 * {@link String#hashCode()} it is a published algorithm any language can repeat) and mixes
 * every input bit into the low bits, so bucket counts that are powers of two work too.
 */
final class Murmur3 {
  private static final int C1 = 0xcc9e2d51;
  private static final int C2 = 0x1b873593;

  private Murmur3() {}

  static int hash(String value) {
    return hash(value.getBytes(StandardCharsets.UTF_8), 0);
  }

  static int hash(byte[] data, int seed) {
    int h = seed;
    int blocks = data.length / 4;
    for (int i = 0; i < blocks; i++) {
      int k = (data[4 * i] & 0xff) | (data[4 * i + 1] & 0xff) << 8
          | (data[4 * i + 2] & 0xff) << 16 | (data[4 * i + 3] & 0xff) << 24;
      h ^= mixK(k);
      h = Integer.rotateLeft(h, 13) * 5 + 0xe6546b64;
    }
    int tail = blocks * 4;
    int rest = data.length & 3;
    if (rest > 0) {
      int k = data[tail] & 0xff;
      if (rest >= 2) {
        k ^= (data[tail + 1] & 0xff) << 8;
      }
      if (rest == 3) {
        k ^= (data[tail + 2] & 0xff) << 16;
      }
      h ^= mixK(k);
    }
    h ^= data.length;
    h ^= h >>> 16;
    h *= 0x85ebca6b;
    h ^= h >>> 13;
    h *= 0xc2b2ae35;
    h ^= h >>> 16;
    return h;
  }

  private static int mixK(int k) {
    k *= C1;
    k = Integer.rotateLeft(k, 15);
    return k * C2;
  }

  /** The id of {@code value} among {@code buckets} hash buckets: 1..buckets (0 is missing). */
  static int bucket(String value, int buckets) {
    return 1 + Integer.remainderUnsigned(hash(value), buckets);
  }
}
