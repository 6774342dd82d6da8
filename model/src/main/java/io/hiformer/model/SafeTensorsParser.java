package io.hiformer.model;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.hiformer.model.SafeTensors.DType;
import io.hiformer.model.SafeTensors.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Validating safetensors reader: every malformation becomes a {@link ModelFileException}. */
final class SafeTensorsParser {

  static final JsonMapper JSON = JsonMapper.builder(JsonFactory.builder()
          .streamReadConstraints(StreamReadConstraints.builder()
              .maxStringLength(SafeTensors.MAX_HEADER_BYTES).build())
          .build())
      .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
      .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
      .build();

  /** A header entry before its bytes are sliced out. */
  private record Entry(String name, DType dtype, int[] shape, long begin, long end) {}

  private SafeTensorsParser() {}

  static SafeTensors parse(byte[] file) {
    if (file.length < 8) {
      throw bad("file is " + file.length + " bytes, shorter than the 8-byte header length");
    }
    long n = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
    if (n < 0) {
      throw bad("header length " + Long.toUnsignedString(n) + " is negative as a signed 64-bit integer");
    }
    if (n > SafeTensors.MAX_HEADER_BYTES) {
      throw bad("header length " + n + " exceeds the limit of " + SafeTensors.MAX_HEADER_BYTES + " bytes");
    }
    if (n > file.length - 8) {
      throw bad("header length " + n + " runs beyond the end of the file (" + (file.length - 8)
          + " bytes follow the length)");
    }
    JsonNode root = json(file, (int) n);
    int dataStart = 8 + (int) n;
    long dataLength = file.length - dataStart;
    Map<String, String> metadata = Map.of();
    List<Entry> entries = new ArrayList<>();
    for (Map.Entry<String, JsonNode> e : root.properties()) {
      if (e.getKey().equals(SafeTensors.METADATA)) {
        metadata = metadata(e.getValue());
      } else {
        entries.add(entry(e.getKey(), e.getValue(), dataLength));
      }
    }
    checkLayout(entries, dataLength);
    List<Tensor> tensors = new ArrayList<>(entries.size());
    for (Entry e : entries) {
      ByteBuffer slice = ByteBuffer.wrap(file, dataStart + (int) e.begin(), (int) (e.end() - e.begin()));
      tensors.add(new Tensor(e.name(), e.dtype(), e.shape(), slice));
    }
    return new SafeTensors(metadata, tensors);
  }

  private static JsonNode json(byte[] file, int n) {
    String text;
    try {
      text = StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(file, 8, n))
          .toString();
    } catch (CharacterCodingException e) {
      throw bad("header is not valid UTF-8");
    }
    JsonNode root;
    try {
      root = JSON.readTree(text);
    } catch (JacksonException e) {
      throw bad("header is not valid JSON: " + e.getOriginalMessage(), e);
    }
    if (root == null || !root.isObject()) {
      throw bad("header is not a JSON object");
    }
    return root;
  }

  private static Map<String, String> metadata(JsonNode node) {
    if (node.isNull()) {
      return Map.of();
    }
    if (!node.isObject()) {
      throw bad("__metadata__ is not a JSON object");
    }
    Map<String, String> out = new LinkedHashMap<>();
    for (Map.Entry<String, JsonNode> e : node.properties()) {
      if (!e.getValue().isTextual()) {
        throw bad("metadata '" + e.getKey() + "' is not a string (found " + e.getValue().getNodeType() + ")");
      }
      out.put(e.getKey(), e.getValue().textValue());
    }
    return out;
  }

  private static Entry entry(String name, JsonNode node, long dataLength) {
    String at = "tensor '" + name + "': ";
    if (!node.isObject()) {
      throw bad(at + "header entry is not a JSON object");
    }
    JsonNode dt = node.get("dtype");
    if (dt == null || !dt.isTextual()) {
      throw bad(at + "dtype is missing or not a string");
    }
    DType dtype = DType.of(dt.textValue());
    if (dtype == null) {
      throw bad(at + "unknown dtype '" + dt.textValue() + "' (supported: " + Arrays.toString(DType.values()) + ")");
    }
    JsonNode sh = node.get("shape");
    if (sh == null || !sh.isArray()) {
      throw bad(at + "bad shape " + sh + ": not a list");
    }
    int[] shape = new int[sh.size()];
    for (int i = 0; i < shape.length; i++) {
      JsonNode d = sh.get(i);
      if (!d.isIntegralNumber() || !d.canConvertToInt() || d.intValue() < 0) {
        throw bad(at + "bad shape " + sh + ": dimensions must be non-negative 32-bit integers");
      }
      shape[i] = d.intValue();
    }
    long numel = SafeTensors.elementCount(shape);
    long need = numel < 0 || numel > Long.MAX_VALUE / dtype.bytes() ? -1 : numel * dtype.bytes();
    if (need < 0) {
      throw bad(at + "bad shape " + sh + ": too many elements");
    }
    JsonNode off = node.get("data_offsets");
    if (off == null || !off.isArray() || off.size() != 2 || !offset(off.get(0)) || !offset(off.get(1))) {
      throw bad(at + "data_offsets " + off + " malformed: need [begin, end], non-negative integers");
    }
    long begin = off.get(0).longValue();
    long end = off.get(1).longValue();
    String range = "data_offsets [" + begin + ", " + end + "]";
    if (end < begin) {
      throw bad(at + range + " end before begin");
    }
    if (end - begin != need) {
      throw bad(at + range + " hold " + (end - begin) + " bytes, but shape " + sh + " of " + dtype
          + " needs " + need + " (size mismatch)");
    }
    if (end > dataLength) {
      throw bad(at + range + " run past the end of the data (" + dataLength + " bytes)");
    }
    return new Entry(name, dtype, shape, begin, end);
  }

  private static boolean offset(JsonNode n) {
    return n.isIntegralNumber() && n.canConvertToLong() && n.longValue() >= 0;
  }

  /** Tensors must tile the data area exactly: no overlap, no gap, nothing after the last one. */
  private static void checkLayout(List<Entry> entries, long dataLength) {
    List<Entry> sorted = new ArrayList<>(entries);
    sorted.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
    long expected = 0;
    Entry previous = null;
    for (Entry e : sorted) {
      if (e.begin() < expected) {
        throw bad("tensor '" + e.name() + "': data_offsets [" + e.begin() + ", " + e.end()
            + "] overlap tensor '" + previous.name() + "' [" + previous.begin() + ", " + previous.end() + "]");
      }
      if (e.begin() > expected) {
        throw bad("tensor '" + e.name() + "': data_offsets [" + e.begin() + ", " + e.end()
            + "] leave a gap of " + (e.begin() - expected) + " unused bytes before them");
      }
      expected = e.end();
      previous = e;
    }
    if (expected != dataLength) {
      throw bad((dataLength - expected) + " trailing bytes after the last tensor's data");
    }
  }

  private static ModelFileException bad(String message) {
    return new ModelFileException("bad safetensors file: " + message);
  }

  private static ModelFileException bad(String message, Throwable cause) {
    return new ModelFileException("bad safetensors file: " + message, cause);
  }
}
