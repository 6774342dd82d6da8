package io.hiformer.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * Deterministic mutational fuzzing of the model-file reader, run in every build: bit flips, byte
 * sets, insertions, truncations, header-length edits and structure-aware edits of the JSON header
 * (offsets, shapes, dtypes, names, metadata, config values). Every outcome must be a successful load
 * or a {@link ModelFileException}. {@code -Dhiformer.mutations=N} and {@code -Dhiformer.mutationSeed=S}
 * run more or different cases; {@link ModelFileFuzzTest} holds the coverage-guided (Jazzer) fuzz.
 */
class ModelFileMutationTest {

  private static final int ITERATIONS = Integer.getInteger("hiformer.mutations", 20_000);
  private static final long SEED = Long.getLong("hiformer.mutationSeed", 0x5afe7e45L);
  private static final long[] INTERESTING = {
    0, 1, -1, 2, 3, 4, 7, 8, 16, 255, 256, Integer.MAX_VALUE, Integer.MIN_VALUE, 1L << 31, 1L << 32,
    Long.MAX_VALUE, Long.MIN_VALUE, SafeTensors.MAX_HEADER_BYTES, SafeTensors.MAX_HEADER_BYTES + 1L
  };
  private static final String[] DTYPES = {"F32", "F64", "I32", "I64", "BF16", "", "f32", "F3"};
  private static final String[] CONFIG_KEYS = {
    "token_dim", "heads", "layers", "rank_k", "rank_v", "ffn_mult", "dense_tokens", "tower_hidden",
    "tasks", "fields", "prune_last_layer", "name"
  };

  /** Rejections the mutations must reach, so that a weakened mutator cannot pass unnoticed. */
  private static final String[] PROBLEMS = {
    "shorter than the 8-byte", "is negative", "exceeds the limit", "beyond the end of the file",
    "not valid UTF-8", "not valid JSON", "not a JSON object", "unknown dtype", "dtype is missing", "bad shape",
    "malformed", "end before begin", "size mismatch", "run past the end", "overlap", "gap of", "trailing bytes",
    "is not a string", "no 'config' entry", "not a valid config", "missing tensor", "unexpected tensor",
    "expected F32", "but the config implies", "is NaN", "is Infinity", "is -Infinity", "tensors, but the file holds"
  };

  @Test
  void mutatedFilesLoadOrAreRejectedWithModelFileException() {
    List<byte[]> seeds = List.of(Golden.weights(Golden.SMALL), Golden.weights(Golden.UNPRUNED),
        Golden.expected(Golden.UNPRUNED));
    SplittableRandom master = new SplittableRandom(SEED);
    int loaded = 0;
    int rejected = 0;
    Set<String> seen = new TreeSet<>();
    for (int i = 0; i < ITERATIONS; i++) {
      long caseSeed = master.nextLong();
      SplittableRandom r = new SplittableRandom(caseSeed);
      byte[] input = seeds.get(r.nextInt(seeds.size()));
      int rounds = 1 + r.nextInt(3);
      for (int k = 0; k < rounds; k++) {
        input = mutate(input, r);
      }
      try {
        check(input);
        loaded++;
      } catch (ModelFileException expected) {
        rejected++;
        for (String problem : PROBLEMS) {
          if (expected.getMessage().contains(problem)) {
            seen.add(problem);
          }
        }
      } catch (Throwable t) {
        fail("case " + i + " (seed " + caseSeed + "): " + t + " is not a ModelFileException", t);
      }
    }
    assertThat(seen).as("kinds of rejection reached").containsExactlyInAnyOrder(PROBLEMS);
    // Both outcomes must be common, or the mutations are too mild or too destructive to test much.
    assertThat(loaded).isGreaterThan(ITERATIONS / 40);
    assertThat(rejected).isGreaterThan(ITERATIONS / 2);
  }

  /** Parses, touches every tensor, loads as a model; a loaded model must survive a round trip. */
  private static void check(byte[] input) {
    SafeTensors file = SafeTensors.parse(input);
    for (SafeTensors.Tensor t : file.tensors()) {
      try {
        if (t.dtype() == SafeTensors.DType.F32 || t.dtype() == SafeTensors.DType.F64) {
          t.doubles();
        } else {
          t.ints();
        }
      } catch (ModelFileException outOfIntRange) {
        // documented for I64 values beyond int
      }
    }
    ModelFile.Loaded m = ModelFile.load(input);
    byte[] again = ModelFile.encode(m.parameters(), m.metadata()).toBytes();
    assertThat(ModelFile.load(again).parameters().count()).isEqualTo(m.parameters().count());
  }

  static byte[] mutate(byte[] in, SplittableRandom r) {
    switch (r.nextInt(9)) {
      case 7: {
        if (in.length < 4) {
          return in;
        }
        byte[] out = in.clone();
        float[] specials = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, -0f, Float.MIN_VALUE};
        int at = (in.length - 4) & ~3;
        at = r.nextInt(at / 4 + 1) * 4;
        java.nio.ByteBuffer.wrap(out).order(java.nio.ByteOrder.LITTLE_ENDIAN)
            .putFloat(at + (in.length & 3), specials[r.nextInt(specials.length)]);
        return out;
      }
      case 0: {
        if (in.length == 0) {
          return in;
        }
        byte[] out = in.clone();
        int at = r.nextBoolean() ? r.nextInt(Math.min(in.length, 8 + headerLength(in))) : r.nextInt(in.length);
        out[at] ^= (byte) (1 << r.nextInt(8));
        return out;
      }
      case 1: {
        if (in.length == 0) {
          return in;
        }
        byte[] out = in.clone();
        byte[] special = "\"{}[],:-0123456789e.\\ ".getBytes(StandardCharsets.US_ASCII);
        out[r.nextInt(out.length)] = r.nextBoolean() ? special[r.nextInt(special.length)] : (byte) r.nextInt(256);
        return out;
      }
      case 2:
        return Arrays.copyOf(in, in.length == 0 ? 0 : r.nextInt(in.length));
      case 3: {
        byte[] out = Arrays.copyOf(in, Math.max(8, in.length));
        long n = headerLength(in);
        long[] choices = {interesting(r), n + r.nextInt(-9, 10), in.length, in.length - 8L, r.nextLong()};
        return SafeTensorsFixture.withHeaderLength(out, choices[r.nextInt(choices.length)]);
      }
      case 4: {
        int at = r.nextInt(in.length + 1);
        byte[] extra = new byte[1 + r.nextInt(16)];
        r.nextBytes(extra);
        byte[] out = new byte[in.length + extra.length];
        System.arraycopy(in, 0, out, 0, at);
        System.arraycopy(extra, 0, out, at, extra.length);
        System.arraycopy(in, at, out, at + extra.length, in.length - at);
        return out;
      }
      default:
        return mutateHeader(in, r);
    }
  }

  private static int headerLength(byte[] in) {
    if (in.length < 8) {
      return 0;
    }
    long n = java.nio.ByteBuffer.wrap(in).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong(0);
    return n < 0 || n > in.length - 8 ? 0 : (int) n;
  }

  /** A structure-aware edit of the JSON header; files whose header no longer parses get a bit flip. */
  private static byte[] mutateHeader(byte[] in, SplittableRandom r) {
    ObjectNode h;
    try {
      int n = headerLength(in);
      h = (ObjectNode) SafeTensorsFixture.JSON.readTree(new String(in, 8, n, StandardCharsets.UTF_8));
    } catch (Exception notAnObjectAnyMore) {
      return in.length == 0 ? in : mutate(in, new SplittableRandom(r.nextLong()));
    }
    byte[] data = Arrays.copyOfRange(in, 8 + headerLength(in), in.length);
    List<String> names = new ArrayList<>();
    h.fieldNames().forEachRemaining(names::add);
    names.remove(SafeTensors.METADATA);
    if (r.nextInt(4) == 0 || names.isEmpty()) {
      mutateMetadata(h, r);
    } else {
      String name = names.get(r.nextInt(names.size()));
      JsonNode entry = h.get(name);
      if (entry instanceof ObjectNode e) {
        mutateEntry(h, name, e, names, r);
      } else {
        h.remove(name);
      }
    }
    return SafeTensorsFixture.file(h, data);
  }

  private static void mutateEntry(ObjectNode h, String name, ObjectNode e, List<String> names, SplittableRandom r) {
    switch (r.nextInt(9)) {
      case 0 -> {
        ArrayNode off = array(e, "data_offsets");
        if (off.size() > 0) {
          int k = r.nextInt(off.size());
          off.set(k, r.nextBoolean() ? off.get(k).asLong() + r.nextInt(-8, 9) : interesting(r));
        }
      }
      case 1 -> {
        ArrayNode shape = array(e, "shape");
        switch (r.nextInt(4)) {
          case 0 -> shape.add(r.nextInt(4));
          case 1 -> {
            if (shape.size() > 0) {
              shape.remove(r.nextInt(shape.size()));
            }
          }
          default -> {
            if (shape.size() > 0) {
              int k = r.nextInt(shape.size());
              shape.set(k, r.nextBoolean() ? shape.get(k).asLong() + r.nextInt(-2, 3) : interesting(r));
            }
          }
        }
      }
      case 2 -> e.put("dtype", DTYPES[r.nextInt(DTYPES.length)]);
      case 3 -> e.remove(List.of("dtype", "shape", "data_offsets").get(r.nextInt(3)));
      case 4 -> h.remove(name);
      case 5 -> {
        h.remove(name);
        h.set(r.nextBoolean() ? name + "x" : SafeTensors.METADATA, e);
      }
      case 6 -> {
        JsonNode other = h.get(names.get(r.nextInt(names.size())));
        if (other instanceof ObjectNode o && o.has("data_offsets") && e.has("data_offsets")) {
          JsonNode mine = e.get("data_offsets");
          e.set("data_offsets", o.get("data_offsets"));
          o.set("data_offsets", mine);
        }
      }
      case 7 -> {
        // An extra tensor: empty ones at a boundary are valid, elsewhere they overlap.
        long at = e.path("data_offsets").path(r.nextInt(2)).asLong() + (r.nextBoolean() ? 0 : 4);
        ObjectNode extra = h.putObject("extra." + r.nextInt(3));
        extra.put("dtype", "F32");
        extra.putArray("shape").add(r.nextInt(4) == 0 ? 1 : 0);
        extra.putArray("data_offsets").add(at).add(at + extra.get("shape").get(0).asLong() * 4);
      }
      default -> e.set(List.of("dtype", "shape", "data_offsets").get(r.nextInt(3)),
          r.nextBoolean() ? e.textNode("7") : e.numberNode(interesting(r)));
    }
  }

  private static ArrayNode array(ObjectNode e, String key) {
    return e.get(key) instanceof ArrayNode a ? a : e.putArray(key);
  }

  private static void mutateMetadata(ObjectNode h, SplittableRandom r) {
    JsonNode meta = h.get(SafeTensors.METADATA);
    if (!(meta instanceof ObjectNode m)) {
      h.putObject(SafeTensors.METADATA).put("config", "{}");
      return;
    }
    switch (r.nextInt(5)) {
      case 0 -> m.remove("config");
      case 1 -> m.put("epochs", interesting(r));
      case 2 -> m.put("config", "{\"token_dim\": " + interesting(r));
      default -> {
        try {
          ObjectNode config = (ObjectNode) SafeTensorsFixture.JSON.readTree(m.path("config").asText("{}"));
          mutateConfig(config, r);
          m.put("config", config.toString());
        } catch (Exception notAnObject) {
          m.put("config", "[]");
        }
      }
    }
  }

  private static void mutateConfig(ObjectNode c, SplittableRandom r) {
    String key = CONFIG_KEYS[r.nextInt(CONFIG_KEYS.length)];
    switch (r.nextInt(5)) {
      case 0 -> c.remove(key);
      case 1 -> c.put(key, "x");
      case 2 -> {
        if (c.get("fields") instanceof ArrayNode fields && fields.size() > 0
            && fields.get(r.nextInt(fields.size())) instanceof ObjectNode f) {
          String[] fieldKeys = {"vocab", "kind", "side", "name"};
          String fk = fieldKeys[r.nextInt(fieldKeys.length)];
          if (r.nextBoolean()) {
            f.put(fk, interesting(r));
          } else {
            f.put(fk, List.of("categorical", "bag", "dense", "user", "item", "", "user_id").get(r.nextInt(7)));
          }
        }
      }
      default -> c.put(key, r.nextBoolean() ? interesting(r) : c.path(key).asLong() + r.nextInt(-2, 3));
    }
  }

  private static long interesting(SplittableRandom r) {
    return INTERESTING[r.nextInt(INTERESTING.length)];
  }
}
