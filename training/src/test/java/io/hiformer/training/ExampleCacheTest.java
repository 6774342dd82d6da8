package io.hiformer.training;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hiformer.model.Batch;
import io.hiformer.model.ModelConfig;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ExampleCacheTest {
  private static final ModelConfig CONFIG = SyntheticCtr.config();

  /** Every example of a pass as text, in order: categorical ids, bags, dense values, labels, mask. */
  static List<String> rows(ExampleSource source, int batchSize, boolean shuffle, long seed) {
    List<String> out = new ArrayList<>();
    ModelConfig c = source.config();
    for (Batch b : source.batches(batchSize, shuffle, seed)) {
      for (int e = 0; e < b.size(); e++) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < c.categoricalFields().size(); i++) {
          sb.append(b.categorical(e, i)).append(',');
        }
        for (int k = 0; k < c.bagFields().size(); k++) {
          sb.append(java.util.Arrays.toString(b.bag(e, k)));
        }
        for (int d = 0; d < c.numDense(); d++) {
          sb.append(';').append(b.dense(e, d));
        }
        for (int t = 0; t < c.numTasks(); t++) {
          sb.append('|').append(b.label(e, t)).append('/').append(b.labelMask(e, t));
        }
        out.add(sb.toString());
      }
    }
    return out;
  }

  static ExampleCache cache(Path dir, int window, ByteArrayOutputStream log) {
    return new ExampleCache(dir, window, new PrintStream(log, true));
  }

  static CachedExamples fill(ExampleCache cache, ExampleSet set, AtomicInteger fills) throws IOException {
    return cache.examples("train", new ExampleCache.Key("test").add("set"), CONFIG, out -> {
      fills.incrementAndGet();
      for (Batch b : set.batches(1000, false, 0)) {
        out.add(b);
      }
      return "info";
    });
  }

  @Test
  void holdsTheExamplesExactlyAndShufflesThemAsAPermutationBySeed(@TempDir Path dir) throws IOException {
    ExampleSet set = TrainingRunTest.examples(40_000, 3);   // three blocks, the last partial
    AtomicInteger fills = new AtomicInteger();
    try (CachedExamples cached = fill(cache(dir, 5_000, new ByteArrayOutputStream()), set, fills)) {
      assertThat(cached.count()).isEqualTo(40_000);
      assertThat(cached.info()).isEqualTo("info");
      List<String> expected = rows(set, 777, false, 0);
      assertThat(rows(cached, 777, false, 0)).isEqualTo(expected);
      List<String> a = rows(cached, 512, true, 1);
      List<String> b = rows(cached, 512, true, 2);
      assertThat(a).isNotEqualTo(expected).isNotEqualTo(b).containsExactlyInAnyOrderElementsOf(expected);
      assertThat(rows(cached, 512, true, 1)).as("same seed, same order").isEqualTo(a);
    }
    assertThat(fills).hasValue(1);
  }

  @Test
  void aLaterRunReadsTheCacheAndOtherDataMakesANewOne(@TempDir Path dir) throws IOException {
    ExampleSet set = TrainingRunTest.examples(3_000, 4);
    AtomicInteger fills = new AtomicInteger();
    ExampleCache cache = cache(dir, 100, new ByteArrayOutputStream());
    fill(cache, set, fills).close();
    fill(cache, set, fills).close();
    assertThat(fills).hasValue(1);
    try (CachedExamples other = cache.examples("train", new ExampleCache.Key("test").add("other"), CONFIG, out -> {
      fills.incrementAndGet();
      return "";
    })) {
      assertThat(other.count()).isZero();
      assertThat(other.batches(10, true, 1).iterator().hasNext()).isFalse();
    }
    assertThat(fills).hasValue(2);
  }

  @Test
  void aTruncatedOrCorruptedFileIsDetectedAndMadeAgainNeverRead(@TempDir Path dir) throws IOException {
    ExampleSet set = TrainingRunTest.examples(20_000, 5);
    List<String> expected = rows(set, 1000, false, 0);
    AtomicInteger fills = new AtomicInteger();
    ByteArrayOutputStream log = new ByteArrayOutputStream();
    ExampleCache cache = cache(dir, 1000, log);
    Path file;
    try (CachedExamples c = fill(cache, set, fills)) {
      file = c.file();
    }
    long size = Files.size(file);
    // Damage: cut the end off, cut inside a block, flip one bit in a block, flip one in the footer.
    List<java.util.function.Consumer<RandomAccessFile>> damages = List.of(
        f -> run(() -> f.setLength(size - 1)),
        f -> run(() -> f.setLength(size / 2)),
        f -> run(() -> flip(f, 64 + 8 + 123)),
        f -> run(() -> flip(f, size / 3)),
        f -> run(() -> flip(f, size - 30)));
    for (var damage : damages) {
      try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
        damage.accept(f);
      }
      int before = fills.get();
      try (CachedExamples c = fill(cache, set, fills)) {
        assertThat(fills.get()).as("made again").isEqualTo(before + 1);
        assertThat(rows(c, 1000, false, 0)).isEqualTo(expected);
      }
    }
    assertThat(log.toString()).contains("cache file not usable", "checksum mismatch", "truncated");
  }

  @Test
  void aBlockDamagedDuringARunStopsThePassBeforeItIsUsed(@TempDir Path dir) throws IOException {
    ExampleSet set = TrainingRunTest.examples(40_000, 6);
    try (CachedExamples c = fill(cache(dir, 1000, new ByteArrayOutputStream()), set, new AtomicInteger())) {
      try (RandomAccessFile f = new RandomAccessFile(c.file().toFile(), "rw")) {
        flip(f, Files.size(c.file()) / 2);
      }
      assertThatThrownBy(() -> rows(c, 1000, false, 0)).isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("checksum mismatch");
    }
  }

  @Test
  void theTrainerSeesEveryExampleOnceAnEpoch(@TempDir Path dir) throws IOException {
    ExampleSet set = TrainingRunTest.examples(17_000, 7);
    try (CachedExamples c = fill(cache(dir, 3000, new ByteArrayOutputStream()), set, new AtomicInteger())) {
      Set<String> seen = new HashSet<>(rows(c, 1024, true, 9));
      assertThat(seen).hasSameSizeAs(new HashSet<>(rows(set, 1024, false, 0)));
    }
  }

  static void flip(RandomAccessFile f, long at) throws IOException {
    f.seek(at);
    int b = f.read();
    f.seek(at);
    f.write(b ^ 0x10);
  }

  private interface IoAction {
    void run() throws IOException;
  }

  private static void run(IoAction a) {
    try {
      a.run();
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }
}
