package io.hiformer.model;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A <a href="https://huggingface.co/docs/safetensors">safetensors</a> file: string metadata and
 * named little-endian tensors. {@link #parse(byte[])} validates the whole layout and throws only
 * {@link ModelFileException} on bad input; {@link #toBytes()} and {@link #write(Path)} lay the
 * tensors out contiguously in insertion order after a space-padded JSON header.
 *
 * <p>Parsed tensors are views of the array given to {@code parse}; do not modify it afterwards.
 * Files are held in one array, so they are limited to about 2 GiB.
 */
public final class SafeTensors {

  /** The largest header accepted, as in the reference Rust implementation. */
  public static final int MAX_HEADER_BYTES = 100_000_000;

  /** The largest file accepted: what fits in one Java array. */
  public static final long MAX_FILE_BYTES = Integer.MAX_VALUE - 8;

  static final String METADATA = "__metadata__";

  /** Element types understood here; others are rejected as unknown. */
  public enum DType {
    F32(4), F64(8), I32(4), I64(8);

    private final int bytes;

    DType(int bytes) {
      this.bytes = bytes;
    }

    /** Bytes per element. */
    public int bytes() {
      return bytes;
    }

    static DType of(String s) {
      for (DType t : values()) {
        if (t.name().equals(s)) {
          return t;
        }
      }
      return null;
    }
  }

  /** One named tensor: dtype, shape and row-major little-endian data. */
  public static final class Tensor {
    private final String name;
    private final DType dtype;
    private final int[] shape;
    private final ByteBuffer data;

    Tensor(String name, DType dtype, int[] shape, ByteBuffer data) {
      this.name = name;
      this.dtype = dtype;
      this.shape = shape.clone();
      this.data = data.slice().order(ByteOrder.LITTLE_ENDIAN).asReadOnlyBuffer();
    }

    public static Tensor f32(String name, int[] shape, float[] values) {
      ByteBuffer b = allocate(name, shape, values.length, DType.F32);
      b.asFloatBuffer().put(values);
      return new Tensor(name, DType.F32, shape, b);
    }

    public static Tensor f64(String name, int[] shape, double[] values) {
      ByteBuffer b = allocate(name, shape, values.length, DType.F64);
      b.asDoubleBuffer().put(values);
      return new Tensor(name, DType.F64, shape, b);
    }

    public static Tensor i32(String name, int[] shape, int[] values) {
      ByteBuffer b = allocate(name, shape, values.length, DType.I32);
      b.asIntBuffer().put(values);
      return new Tensor(name, DType.I32, shape, b);
    }

    public static Tensor i64(String name, int[] shape, long[] values) {
      ByteBuffer b = allocate(name, shape, values.length, DType.I64);
      b.asLongBuffer().put(values);
      return new Tensor(name, DType.I64, shape, b);
    }

    private static ByteBuffer allocate(String name, int[] shape, int length, DType dtype) {
      if (SafeTensors.elementCount(shape) != length) {
        throw new IllegalArgumentException(
            "tensor '" + name + "': shape " + Arrays.toString(shape) + " does not hold " + length + " values");
      }
      return ByteBuffer.allocate(Math.multiplyExact(length, dtype.bytes())).order(ByteOrder.LITTLE_ENDIAN);
    }

    public String name() {
      return name;
    }

    public DType dtype() {
      return dtype;
    }

    public int[] shape() {
      return shape.clone();
    }

    /** Number of elements (1 for a scalar of shape []). */
    public int numel() {
      return data.capacity() / dtype.bytes;
    }

    /** The values of an F32 tensor. */
    public float[] floats() {
      expect(DType.F32);
      float[] out = new float[numel()];
      view().asFloatBuffer().get(out);
      return out;
    }

    /** The values of an F64 or F32 tensor, as doubles. */
    public double[] doubles() {
      if (dtype == DType.F32) {
        float[] f = floats();
        double[] out = new double[f.length];
        for (int i = 0; i < f.length; i++) {
          out[i] = f[i];
        }
        return out;
      }
      expect(DType.F64);
      double[] out = new double[numel()];
      view().asDoubleBuffer().get(out);
      return out;
    }

    /** The values of an I64 or I32 tensor, as longs. */
    public long[] longs() {
      if (dtype == DType.I32) {
        int[] v = ints();
        long[] out = new long[v.length];
        for (int i = 0; i < v.length; i++) {
          out[i] = v[i];
        }
        return out;
      }
      expect(DType.I64);
      long[] out = new long[numel()];
      view().asLongBuffer().get(out);
      return out;
    }

    /** The values of an I32 tensor, or of an I64 tensor whose values all fit in an int. */
    public int[] ints() {
      int[] out = new int[numel()];
      if (dtype == DType.I32) {
        view().asIntBuffer().get(out);
        return out;
      }
      expect(DType.I64);
      ByteBuffer b = view();
      for (int i = 0; i < out.length; i++) {
        long v = b.getLong(i * 8);
        if (v != (int) v) {
          throw new ModelFileException(
              "tensor '" + name + "': element " + i + " = " + v + " does not fit in an int");
        }
        out[i] = (int) v;
      }
      return out;
    }

    private void expect(DType want) {
      if (dtype != want) {
        throw new ModelFileException("tensor '" + name + "' has dtype " + dtype + ", expected " + want);
      }
    }

    /** The raw little-endian bytes, positioned at 0. */
    ByteBuffer view() {
      return data.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    }

    @Override
    public String toString() {
      return name + ":" + dtype + Arrays.toString(shape);
    }
  }

  private final Map<String, String> metadata;
  private final Map<String, Tensor> tensors;

  /** Metadata and tensors, in the order they will be written; names must be unique. */
  public SafeTensors(Map<String, String> metadata, List<Tensor> tensors) {
    this.metadata = Collections.unmodifiableMap(new LinkedHashMap<>(metadata));
    Map<String, Tensor> m = new LinkedHashMap<>();
    for (Tensor t : tensors) {
      if (t.name().equals(METADATA) || m.put(t.name(), t) != null) {
        throw new IllegalArgumentException("tensor name '" + t.name() + "' is reserved or repeated");
      }
    }
    this.tensors = Collections.unmodifiableMap(m);
  }

  /** Parses and validates a whole file. */
  public static SafeTensors parse(byte[] file) {
    return SafeTensorsParser.parse(file);
  }

  /** Reads and validates a file; I/O failures are IOExceptions, bad content ModelFileExceptions. */
  public static SafeTensors read(Path path) throws IOException {
    long size = Files.size(path);
    if (size > MAX_FILE_BYTES) {
      throw new ModelFileException(path + ": file of " + size + " bytes is larger than " + MAX_FILE_BYTES);
    }
    byte[] bytes = Files.readAllBytes(path);
    try {
      return parse(bytes);
    } catch (ModelFileException e) {
      throw new ModelFileException(path + ": " + e.getMessage(), e);
    }
  }

  public Map<String, String> metadata() {
    return metadata;
  }

  /** Tensors in file (header) order. */
  public List<Tensor> tensors() {
    return List.copyOf(tensors.values());
  }

  public boolean has(String name) {
    return tensors.containsKey(name);
  }

  /** The named tensor; a ModelFileException if there is none. */
  public Tensor tensor(String name) {
    Tensor t = tensors.get(name);
    if (t == null) {
      throw new ModelFileException("no tensor named '" + name + "'");
    }
    return t;
  }

  /** The whole file. */
  public byte[] toBytes() {
    byte[] header = header();
    long total = 8L + header.length + dataBytes();
    if (total > MAX_FILE_BYTES) {
      throw new IllegalStateException("safetensors file of " + total + " bytes does not fit in an array");
    }
    ByteBuffer out = ByteBuffer.allocate((int) total).order(ByteOrder.LITTLE_ENDIAN);
    out.putLong(header.length).put(header);
    for (Tensor t : tensors.values()) {
      out.put(t.view());
    }
    return out.array();
  }

  /**
   * Writes the file atomically: to a temporary file in the same directory, fsynced, then renamed
   * over {@code path}. Readers see the old file or the new one, never a partial one.
   */
  public void write(Path path) throws IOException {
    Path target = path.toAbsolutePath();
    Path dir = target.getParent();
    Path tmp = dir.resolve("." + target.getFileName() + "."
        + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
    boolean moved = false;
    try {
      try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
        byte[] header = header();
        writeFully(ch, ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, header.length));
        writeFully(ch, ByteBuffer.wrap(header));
        for (Tensor t : tensors.values()) {
          writeFully(ch, t.view());
        }
        ch.force(true);
      }
      Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      moved = true;
      syncDirectory(dir);
    } finally {
      if (!moved) {
        Files.deleteIfExists(tmp);
      }
    }
  }

  private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      ch.write(b);
    }
  }

  /** Makes the rename durable where the platform allows opening a directory. */
  private static void syncDirectory(Path dir) {
    try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
      ch.force(true);
    } catch (IOException | UnsupportedOperationException e) {
      // Not supported here (e.g. Windows); the file itself is already synced.
    }
  }

  private long dataBytes() {
    long n = 0;
    for (Tensor t : tensors.values()) {
      n += t.data.capacity();
    }
    return n;
  }

  /** The JSON header, padded with spaces to a multiple of 8 bytes. */
  private byte[] header() {
    ObjectNode root = SafeTensorsParser.JSON.createObjectNode();
    if (!metadata.isEmpty()) {
      ObjectNode m = root.putObject(METADATA);
      metadata.forEach(m::put);
    }
    long offset = 0;
    for (Tensor t : tensors.values()) {
      ObjectNode e = root.putObject(t.name());
      e.put("dtype", t.dtype().name());
      ArrayNode shape = e.putArray("shape");
      for (int d : t.shape) {
        shape.add(d);
      }
      ArrayNode offsets = e.putArray("data_offsets");
      offsets.add(offset);
      offset += t.data.capacity();
      offsets.add(offset);
    }
    byte[] json;
    try {
      json = SafeTensorsParser.JSON.writeValueAsBytes(root);
    } catch (JsonProcessingException e) {
      throw new UncheckedIOException(e);
    }
    if (json.length > MAX_HEADER_BYTES - 8) {
      throw new IllegalStateException("safetensors header of " + json.length + " bytes is too large");
    }
    byte[] padded = Arrays.copyOf(json, (json.length + 7) & ~7);
    Arrays.fill(padded, json.length, padded.length, (byte) ' ');
    return padded;
  }

  /** Elements of a shape, or -1 if a dimension is negative or the count overflows a long. */
  static long elementCount(int[] shape) {
    long n = 1;
    for (int d : shape) {
      if (d < 0) {
        return -1;
      }
      if (d == 0) {
        return 0;
      }
    }
    for (int d : shape) {
      if (n > Long.MAX_VALUE / d) {
        return -1;
      }
      n *= d;
    }
    return n;
  }
}
