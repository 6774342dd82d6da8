package io.hiformer.features.online;

import io.hiformer.features.online.StoreSchema.EntitySchema;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

/**
 * A {@link StoredEntity} as bytes, for the disk store: a format byte, then per slot of the
 * schema a tag and, unless never touched, the event time as a zig-zag varint delta from the
 * previous slot's (an update sets all its columns at one time, so most take one byte) and the
 * value: text as a varint length and UTF-8, an id as a zig-zag varint, a dense value as a float
 * when that is exact (else a double), a bag as a count and texts. Slots are the schema's, so a
 * store records the schema it was written with and starts over when it changes.
 */
final class EntityCodec {
  static final byte FORMAT = 1;
  private static final byte NEVER = 0;
  private static final byte MISSING = 1;
  private static final byte TEXT = 2;
  private static final byte ID = 3;
  private static final byte FLOAT = 4;
  private static final byte DOUBLE = 5;
  private static final byte BAG = 6;

  private byte[] buf = new byte[256];
  private int pos;

  /** The bytes of {@code e}; reuses a buffer, so one codec per writer. */
  byte[] encode(StoredEntity e) {
    int n = e.refs.length;
    pos = 0;
    put(FORMAT);
    long previous = 0;
    for (int slot = 0; slot < n; slot++) {
      long time = e.data[slot];
      Object ref = e.refs[slot];
      if (time == StoredEntity.NEVER) {
        put(NEVER);
        continue;
      }
      long number = e.data[n + slot];
      byte tag;
      if (ref == null) {
        tag = MISSING;
      } else if (ref instanceof String) {
        tag = TEXT;
      } else if (ref == StoredEntity.ID) {
        tag = ID;
      } else if (ref == StoredEntity.DENSE) {
        tag = Double.doubleToRawLongBits((float) Double.longBitsToDouble(number)) == number ? FLOAT : DOUBLE;
      } else {
        tag = BAG;
      }
      put(tag);
      putVarLong(zigzag(time - previous));
      previous = time;
      switch (tag) {
        case TEXT -> putText((String) ref);
        case ID -> putVarLong(zigzag(number));
        case FLOAT -> putInt(Float.floatToRawIntBits((float) Double.longBitsToDouble(number)));
        case DOUBLE -> putLong(number);
        case BAG -> {
          List<?> bag = (List<?>) ref;
          putVarLong(bag.size());
          for (Object item : bag) {
            putText((String) item);
          }
        }
        default -> { } // MISSING: the time says when
      }
    }
    return Arrays.copyOf(buf, pos);
  }

  /** The entity {@code bytes} hold, as written with {@code schema}. */
  static StoredEntity decode(EntitySchema schema, byte[] bytes) {
    int n = schema.size();
    long[] data = StoredEntity.emptyData(n);
    Object[] refs = new Object[n];
    Reader in = new Reader(bytes);
    if (in.get() != FORMAT) {
      throw new IllegalStateException("stored entity of an unknown format " + bytes[0]);
    }
    long time = 0;
    for (int slot = 0; slot < n; slot++) {
      byte tag = in.get();
      if (tag == NEVER) {
        continue;
      }
      time += unzigzag(in.varLong());
      data[slot] = time;
      switch (tag) {
        case MISSING -> refs[slot] = null;
        case TEXT -> refs[slot] = in.text();
        case ID -> {
          refs[slot] = StoredEntity.ID;
          data[n + slot] = unzigzag(in.varLong());
        }
        case FLOAT -> {
          refs[slot] = StoredEntity.DENSE;
          data[n + slot] = Double.doubleToRawLongBits(Float.intBitsToFloat(in.int32()));
        }
        case DOUBLE -> {
          refs[slot] = StoredEntity.DENSE;
          data[n + slot] = in.int64();
        }
        case BAG -> {
          String[] items = new String[(int) in.varLong()];
          for (int i = 0; i < items.length; i++) {
            items[i] = in.text();
          }
          refs[slot] = List.of(items);
        }
        default -> throw new IllegalStateException("stored entity with an unknown tag " + tag);
      }
    }
    return new StoredEntity(schema, data, refs);
  }

  private void ensure(int more) {
    if (pos + more > buf.length) {
      buf = Arrays.copyOf(buf, Math.max(2 * buf.length, pos + more));
    }
  }

  private void put(byte b) {
    ensure(1);
    buf[pos++] = b;
  }

  private void putVarLong(long v) {
    ensure(10);
    while ((v & ~0x7FL) != 0) {
      buf[pos++] = (byte) ((v & 0x7F) | 0x80);
      v >>>= 7;
    }
    buf[pos++] = (byte) v;
  }

  private void putInt(int v) {
    ensure(4);
    for (int i = 0; i < 4; i++) {
      buf[pos++] = (byte) (v >>> (8 * i));
    }
  }

  private void putLong(long v) {
    ensure(8);
    for (int i = 0; i < 8; i++) {
      buf[pos++] = (byte) (v >>> (8 * i));
    }
  }

  private void putText(String s) {
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    putVarLong(b.length);
    ensure(b.length);
    System.arraycopy(b, 0, buf, pos, b.length);
    pos += b.length;
  }

  private static long zigzag(long v) {
    return (v << 1) ^ (v >> 63);
  }

  private static long unzigzag(long v) {
    return (v >>> 1) ^ -(v & 1);
  }

  /** Reads what {@link #encode} wrote. */
  private static final class Reader {
    private final byte[] b;
    private int pos;

    Reader(byte[] b) {
      this.b = b;
    }

    byte get() {
      return b[pos++];
    }

    long varLong() {
      long v = 0;
      for (int shift = 0; ; shift += 7) {
        byte x = b[pos++];
        v |= (long) (x & 0x7F) << shift;
        if (x >= 0) {
          return v;
        }
      }
    }

    int int32() {
      int v = 0;
      for (int i = 0; i < 4; i++) {
        v |= (b[pos++] & 0xFF) << (8 * i);
      }
      return v;
    }

    long int64() {
      long v = 0;
      for (int i = 0; i < 8; i++) {
        v |= (long) (b[pos++] & 0xFF) << (8 * i);
      }
      return v;
    }

    String text() {
      int len = (int) varLong();
      String s = new String(b, pos, len, StandardCharsets.UTF_8);
      pos += len;
      return s;
    }
  }
}
