package io.hiformer.model;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/** Takes safetensors files apart and puts them back together, for building bad files in tests. */
final class SafeTensorsFixture {
  static final ObjectMapper JSON = new ObjectMapper();

  private SafeTensorsFixture() {}

  static int headerLength(byte[] file) {
    return (int) ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
  }

  /** The header as a mutable JSON object (insertion order kept). */
  static ObjectNode header(byte[] file) {
    try {
      return (ObjectNode) JSON.readTree(new String(file, 8, headerLength(file), StandardCharsets.UTF_8));
    } catch (JsonProcessingException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The bytes after the header. */
  static byte[] data(byte[] file) {
    return Arrays.copyOfRange(file, 8 + headerLength(file), file.length);
  }

  /** A file with this header text (used verbatim, unpadded) and data. */
  static byte[] file(String header, byte[] data) {
    byte[] h = header.getBytes(StandardCharsets.UTF_8);
    return ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN)
        .putLong(h.length).put(h).put(data).array();
  }

  static byte[] file(ObjectNode header, byte[] data) {
    return file(header.toString(), data);
  }

  /** Absolute file offset of a tensor's first byte. */
  static int dataOffset(byte[] file, String tensor) {
    return 8 + headerLength(file) + header(file).get(tensor).get("data_offsets").get(0).intValue();
  }

  /** A copy of {@code file} with the float at {@code index} of {@code tensor} replaced. */
  static byte[] withFloat(byte[] file, String tensor, int index, float value) {
    byte[] out = file.clone();
    ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN).putFloat(dataOffset(file, tensor) + 4 * index, value);
    return out;
  }

  /** A copy of {@code file} with a different header length field. */
  static byte[] withHeaderLength(byte[] file, long length) {
    byte[] out = file.clone();
    ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN).putLong(0, length);
    return out;
  }
}
