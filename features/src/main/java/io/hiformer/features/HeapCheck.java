package io.hiformer.features;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.hiformer.model.ModelRegistry;
import io.hiformer.model.SafeTensors;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import java.util.Map;

/**
 * Refuses a version whose file would not fit in the heap, from its safetensors header alone,
 * before the file is read: loading holds the whole file and then its tensors as arrays, and an
 * {@link OutOfMemoryError} on the way would hit whichever thread allocates next.
 */
final class HeapCheck {
  private static final ObjectMapper JSON = new ObjectMapper();

  private HeapCheck() {}

  /**
   * Throws IllegalArgumentException, naming the sizes, when the file's size plus the tensor bytes
   * its header declares exceed the free heap (after one collection, should the first look say no).
   * A header that cannot be read is left to the full verification to report.
   */
  static void require(ModelRegistry.Version version) throws IOException {
    long fileBytes;
    long tensorBytes;
    try (FileChannel f = FileChannel.open(version.file(), StandardOpenOption.READ)) {
      fileBytes = f.size();
      tensorBytes = declaredTensorBytes(f);
    }
    if (tensorBytes < 0) {
      return;
    }
    long need = saturatedAdd(fileBytes, tensorBytes);
    long free = freeHeap();
    if (need > free) {
      System.gc(); // garbage counts as used until collected; a refusal is rare and worth one collection
      free = freeHeap();
    }
    if (need > free) {
      throw new IllegalArgumentException(String.format(java.util.Locale.ROOT,
          "model %s v%d declares %,d bytes of tensors in a file of %,d bytes; loading it needs about %,d bytes"
              + " of heap, and %,d of the %,d are free: refused (raise -Xmx to serve it)",
          version.model(), version.number(), tensorBytes, fileBytes, need, free, Runtime.getRuntime().maxMemory()));
    }
  }

  private static long freeHeap() {
    Runtime rt = Runtime.getRuntime();
    return rt.maxMemory() - (rt.totalMemory() - rt.freeMemory());
  }

  /** The tensor bytes the header declares (saturating), or -1 when the header cannot be read. */
  static long declaredTensorBytes(FileChannel f) throws IOException {
    ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
    if (f.read(len, 0) != 8) {
      return -1;
    }
    long n = len.getLong(0);
    if (n <= 0 || n > SafeTensors.MAX_HEADER_BYTES || n > f.size() - 8) {
      return -1;
    }
    ByteBuffer header = ByteBuffer.allocate((int) n);
    while (header.hasRemaining() && f.read(header, 8 + header.position()) > 0) {
      // reads until full or the end of the file
    }
    JsonNode root;
    try {
      root = JSON.readTree(header.array(), 0, header.position());
    } catch (IOException e) {
      return -1;
    }
    if (root == null || !root.isObject()) {
      return -1;
    }
    long total = 0;
    for (Map.Entry<String, JsonNode> t : root.properties()) {
      JsonNode shape = t.getValue().get("shape");
      if (t.getKey().equals("__metadata__") || shape == null || !shape.isArray()) {
        continue;
      }
      long bytes = elementBytes(t.getValue().path("dtype").asText());
      for (JsonNode d : shape) {
        bytes = saturatedMultiply(bytes, Math.max(0, d.asLong()));
      }
      total = saturatedAdd(total, bytes);
    }
    return total;
  }

  private static long elementBytes(String dtype) {
    return switch (dtype) {
      case "F16", "BF16", "I16", "U16" -> 2;
      case "F32", "I32", "U32" -> 4;
      case "I8", "U8", "BOOL" -> 1;
      default -> 8;
    };
  }

  private static long saturatedAdd(long a, long b) {
    long r = a + b;
    return r < 0 ? Long.MAX_VALUE : r;
  }

  private static long saturatedMultiply(long a, long b) {
    return Math.multiplyHigh(a, b) != 0 || a * b < 0 ? Long.MAX_VALUE : a * b;
  }
}
