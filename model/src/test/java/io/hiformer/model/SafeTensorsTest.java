package io.hiformer.model;

import static io.hiformer.model.SafeTensorsFixture.file;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hiformer.model.SafeTensors.DType;
import io.hiformer.model.SafeTensors.Tensor;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.assertj.core.api.AbstractThrowableAssert;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafeTensorsTest {

  private static final byte[] EIGHT = new byte[8];

  private static AbstractThrowableAssert<?, ? extends Throwable> rejects(byte[] file) {
    return assertThatThrownBy(() -> SafeTensors.parse(file)).isInstanceOf(ModelFileException.class);
  }

  private static SafeTensors sample() {
    Map<String, String> meta = new LinkedHashMap<>();
    meta.put("config", "{\"a\": 1}");
    meta.put("lineage", "run 7 · ünïcode \"quoted\"\n");
    return new SafeTensors(meta, List.of(
        Tensor.f32("w", new int[] {2, 3},
            new float[] {1.5f, -0f, Float.MIN_VALUE, Float.MAX_VALUE, Float.intBitsToFloat(0x7fc00001), -3f}),
        Tensor.i64("ids", new int[] {3}, new long[] {Long.MIN_VALUE, 0, Long.MAX_VALUE}),
        Tensor.f64("d", new int[] {}, new double[] {Math.PI}),
        Tensor.i32("small", new int[] {2, 1}, new int[] {-1, Integer.MAX_VALUE}),
        Tensor.f32("empty", new int[] {0, 4}, new float[0])));
  }

  @Test
  void goldenExpectedFileParsesWithTypedAccess() {
    SafeTensors f = SafeTensors.parse(Golden.expected(Golden.SMALL));
    Tensor cat = f.tensor("input.cat");
    assertThat(cat.dtype()).isEqualTo(DType.I64);
    assertThat(cat.shape()).containsExactly(5, 3);
    assertThat(cat.ints()).hasSize(15);
    assertThat(java.util.Arrays.stream(cat.ints()).allMatch(id -> id >= 0 && id < 11)).isTrue();
    long[] offsets = f.tensor("input.bag_offsets").longs();
    assertThat(offsets).hasSize(6).startsWith(0L);
    assertThat(offsets[5]).isEqualTo(f.tensor("input.bag_ids").numel());
    assertThat(f.tensor("output.logits").floats()).hasSize(10);
    assertThat(f.tensor("output.logits").doubles()[3]).isEqualTo(f.tensor("output.logits").floats()[3]);
    assertThatThrownBy(() -> cat.floats()).isInstanceOf(ModelFileException.class)
        .hasMessageContaining("input.cat").hasMessageContaining("I64");
    assertThatThrownBy(() -> f.tensor("nope")).isInstanceOf(ModelFileException.class).hasMessageContaining("nope");
  }

  @Test
  void roundTripIsBitExact() {
    SafeTensors a = sample();
    byte[] bytes = a.toBytes();
    SafeTensors b = SafeTensors.parse(bytes);
    assertThat(b.metadata()).containsExactlyEntriesOf(a.metadata());
    assertThat(b.tensors()).extracting(Tensor::name).containsExactly("w", "ids", "d", "small", "empty");
    for (Tensor t : a.tensors()) {
      Tensor u = b.tensor(t.name());
      assertThat(u.dtype()).isEqualTo(t.dtype());
      assertThat(u.shape()).isEqualTo(t.shape());
      assertThat(u.view()).isEqualTo(t.view());
    }
    assertThat(Float.floatToRawIntBits(b.tensor("w").floats()[4])).isEqualTo(0x7fc00001);
    assertThat(Float.floatToRawIntBits(b.tensor("w").floats()[1])).isEqualTo(0x80000000);
    assertThat(b.tensor("ids").longs()).containsExactly(Long.MIN_VALUE, 0, Long.MAX_VALUE);
    assertThat(b.tensor("d").doubles()).containsExactly(Math.PI);
    assertThat(b.tensor("small").longs()).containsExactly(-1, Integer.MAX_VALUE);
    assertThat(b.toBytes()).isEqualTo(bytes);
  }

  @Test
  void layoutIsPaddedHeaderThenContiguousData() {
    byte[] bytes = sample().toBytes();
    int n = SafeTensorsFixture.headerLength(bytes);
    assertThat(n % 8).isZero();
    String header = new String(bytes, 8, n, StandardCharsets.UTF_8);
    assertThat(header).startsWith("{\"__metadata__\":{\"config\":");
    assertThat(header.stripTrailing()).endsWith("}");
    assertThat(header.length() - header.stripTrailing().length()).isLessThan(8);
    assertThat(header).contains("\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}")
        .contains("\"ids\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[24,48]}")
        .contains("\"empty\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[64,64]}");
    assertThat(bytes.length).isEqualTo(8 + n + 64);
  }

  @Test
  void writeReplacesAtomicallyAndLeavesNoTemporaryFile(@TempDir Path dir) throws IOException {
    Path path = dir.resolve("model.safetensors");
    Files.writeString(path, "old contents");
    sample().write(path);
    assertThat(Files.readAllBytes(path)).isEqualTo(sample().toBytes());
    assertThat(SafeTensors.read(path).metadata()).isEqualTo(sample().metadata());
    try (Stream<Path> files = Files.list(dir)) {
      assertThat(files).containsExactly(path);
    }
  }

  @Test
  void readOfMissingFileIsAnIoError(@TempDir Path dir) {
    assertThatThrownBy(() -> SafeTensors.read(dir.resolve("absent"))).isInstanceOf(IOException.class);
  }

  @Test
  void constructorRefusesRepeatedNamesAndBadShapes() {
    Tensor t = Tensor.f32("x", new int[] {1}, new float[] {1});
    assertThatThrownBy(() -> new SafeTensors(Map.of(), List.of(t, t))).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> Tensor.f32("y", new int[] {2, 2}, new float[3]))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("y");
  }

  @Test
  void intsRejectsValuesOutsideIntRange() {
    Tensor t = Tensor.i64("big", new int[] {2}, new long[] {1, 1L << 40});
    assertThatThrownBy(t::ints).isInstanceOf(ModelFileException.class)
        .hasMessageContaining("'big'").hasMessageContaining("element 1");
  }

  // ---- rejections ---------------------------------------------------------------------------

  @Test
  void rejectsFileShorterThanEightBytes() {
    for (int n = 0; n < 8; n++) {
      rejects(new byte[n]).hasMessageContaining("shorter than the 8-byte header length");
    }
  }

  @Test
  void rejectsNegativeHeaderLength() {
    rejects(SafeTensorsFixture.withHeaderLength(sample().toBytes(), -5)).hasMessageContaining("negative");
  }

  @Test
  void rejectsHeaderLengthBeyondFile() {
    byte[] ok = sample().toBytes();
    rejects(SafeTensorsFixture.withHeaderLength(ok, ok.length - 7)).hasMessageContaining("beyond the end of the file");
  }

  @Test
  void rejectsHugeClaimedHeaderWithoutAllocating() {
    rejects(SafeTensorsFixture.withHeaderLength(EIGHT, Long.MAX_VALUE)).hasMessageContaining("exceeds the limit");
    rejects(SafeTensorsFixture.withHeaderLength(EIGHT, SafeTensors.MAX_HEADER_BYTES + 1L))
        .hasMessageContaining("exceeds the limit");
  }

  @Test
  void rejectsHeaderThatIsNotJson() {
    rejects(file("{\"a\": ", new byte[0])).hasMessageContaining("header is not valid JSON");
    rejects(file("{} trailing", new byte[0])).hasMessageContaining("header is not valid JSON");
    rejects(file("{\"x\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
        + "\"x\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[4,8]}}", new byte[8]))
        .hasMessageContaining("header is not valid JSON").hasMessageContaining("Duplicate field 'x'");
  }

  @Test
  void rejectsHeaderThatIsNotAnObject() {
    rejects(file("[1, 2]  ", new byte[0])).hasMessageContaining("header is not a JSON object");
    rejects(file("        ", new byte[0])).hasMessageContaining("header is not a JSON object");
  }

  @Test
  void rejectsHeaderThatIsNotUtf8() {
    byte[] f = file("{\"x\": 1}", new byte[0]);
    f[10] = (byte) 0xff;
    rejects(f).hasMessageContaining("not valid UTF-8");
  }

  @Test
  void rejectsUnknownDtype() {
    rejects(file("{\"t\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}", new byte[4]))
        .hasMessageContaining("tensor 't'").hasMessageContaining("unknown dtype 'BF16'");
    rejects(file("{\"t\":{\"shape\":[2],\"data_offsets\":[0,4]}}", new byte[4]))
        .hasMessageContaining("tensor 't'").hasMessageContaining("dtype is missing");
  }

  @Test
  void rejectsBadShape() {
    for (String shape : List.of("[-1]", "[1.5]", "\"2\"", "[4294967296]", "[[2]]", "null")) {
      rejects(file("{\"t\":{\"dtype\":\"F32\",\"shape\":" + shape + ",\"data_offsets\":[0,4]}}", new byte[4]))
          .hasMessageContaining("tensor 't'").hasMessageContaining("bad shape");
    }
    rejects(file("{\"t\":{\"dtype\":\"F64\",\"shape\":[2147483647,2147483647,2147483647],"
        + "\"data_offsets\":[0,8]}}", new byte[8])).hasMessageContaining("too many elements");
  }

  @Test
  void rejectsMalformedDataOffsets() {
    for (String off : List.of("[0]", "[0,4,8]", "[\"0\",4]", "[-4,0]", "[0,4.0]", "[0,99999999999999999999]", "{}")) {
      rejects(file("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":" + off + "}}", new byte[4]))
          .hasMessageContaining("tensor 't'").hasMessageContaining("data_offsets").hasMessageContaining("malformed");
    }
    rejects(file("{\"t\":{\"dtype\":\"F32\",\"shape\":[1]}}", new byte[4])).hasMessageContaining("malformed");
  }

  @Test
  void rejectsDataOffsetsEndingBeforeTheyBegin() {
    rejects(file("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", new byte[4]))
        .hasMessageContaining("tensor 't'").hasMessageContaining("end before begin");
  }

  @Test
  void rejectsSizeThatDisagreesWithShape() {
    rejects(file("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", new byte[4]))
        .hasMessageContaining("tensor 't'").hasMessageContaining("size mismatch");
  }

  @Test
  void rejectsDataRunningPastTheEnd() {
    rejects(file("{\"t\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}", new byte[12]))
        .hasMessageContaining("tensor 't'").hasMessageContaining("run past the end of the data (12 bytes)");
  }

  @Test
  void rejectsOverlappingTensors() {
    rejects(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", new byte[12]))
        .hasMessageContaining("tensor 'b'").hasMessageContaining("overlap tensor 'a'");
  }

  @Test
  void rejectsGapsAndTrailingBytes() {
    rejects(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", new byte[8]))
        .hasMessageContaining("tensor 'a'").hasMessageContaining("gap of 4");
    rejects(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[6]))
        .hasMessageContaining("2 trailing bytes");
  }

  @Test
  void rejectsNonStringMetadata() {
    rejects(file("{\"__metadata__\":{\"ok\":\"x\",\"epochs\":3}}", new byte[0]))
        .hasMessageContaining("metadata 'epochs' is not a string");
    rejects(file("{\"__metadata__\":[\"x\"]}", new byte[0])).hasMessageContaining("__metadata__ is not a JSON object");
  }

  @Test
  void rejectsEntryThatIsNotAnObject() {
    rejects(file("{\"t\":[1,2]}", new byte[0])).hasMessageContaining("tensor 't'").hasMessageContaining("not a JSON object");
  }

  @Test
  void acceptsNullMetadataAndEmptyFile() {
    assertThat(SafeTensors.parse(file("{\"__metadata__\":null}", new byte[0])).metadata()).isEmpty();
    assertThat(SafeTensors.parse(file("{}", new byte[0])).tensors()).isEmpty();
  }
}
