package io.hiformer.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hiformer.model.ModelConfig.Field;
import io.hiformer.model.ModelConfig.FieldKind;
import io.hiformer.model.ModelConfig.Side;
import io.hiformer.model.ModelRegistry.Version;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The registry in one process: publishing, listing, aliases, integrity and validation. */
class ModelRegistryTest {
  @TempDir
  Path root;

  /** A valid model; {@code itemVocab} sets its size (about 32 bytes per item). */
  static Parameters model(int itemVocab, long seed) {
    ModelConfig c = new ModelConfig("registry-test", 8, 2, 1, List.of("click"), 2, 2, 2, List.of(), 0, true,
        List.of(new Field("user", FieldKind.CATEGORICAL, Side.USER, 10),
            new Field("item", FieldKind.CATEGORICAL, Side.ITEM, itemVocab)));
    return Parameters.initialize(c, seed);
  }

  @Test
  void publishesTwoVersionsThenListsResolvesPromotesAndRollsBack() throws Exception {
    ModelRegistry r = ModelRegistry.open(root);
    Version v1 = r.publish("ranker", model(20, 1), Map.of("note", "first"), "{\"auc\": 0.71}");
    Path file = root.resolve("elsewhere.safetensors");
    ModelFile.write(file, model(20, 2), Map.of());
    Version v2 = r.publish("ranker", file, "{\"auc\": 0.73, \"commit\": \"abc123\"}");

    assertThat(v1.number()).isEqualTo(1);
    assertThat(v2.number()).isEqualTo(2);
    assertThat(v2.file()).isEqualTo(root.resolve("ranker/2/model.safetensors"));
    assertThat(Files.readAllBytes(v2.file())).isEqualTo(Files.readAllBytes(file));
    assertThat(v2.sha256()).hasSize(64).isEqualTo(Files.readString(root.resolve("ranker/2/COMPLETE")).strip());
    assertThat(v2.lineageJson()).contains("abc123");
    assertThat(r.models()).containsExactly("ranker");
    assertThat(r.versions("ranker")).extracting(Version::number).containsExactly(1L, 2L);
    assertThat(r.latest("ranker")).contains(v2);
    assertThat(r.version("ranker", 1)).isEqualTo(v1);
    assertThat(r.resolve("ranker", "latest")).contains(v2);
    assertThat(r.resolve("ranker", "1")).contains(v1);
    assertThat(r.resolve("ranker", "3")).isEmpty();
    assertThat(r.resolve("ranker", "production")).isEmpty();
    assertThat(r.aliases("ranker")).isEmpty();

    r.setAlias("ranker", "production", 1);
    r.setAlias("ranker", "candidate", 2);
    assertThat(r.aliases("ranker")).containsExactly(Map.entry("candidate", 2L), Map.entry("production", 1L));
    assertThat(r.resolve("ranker", "production")).contains(v1);

    r.setAlias("ranker", "production", 2);
    assertThat(r.resolve("ranker", "production")).contains(v2);
    assertThat(r.rollback("ranker", "production")).isEqualTo(v1);
    assertThat(r.aliases("ranker")).containsEntry("production", 1L).containsEntry("candidate", 2L);
    assertThatThrownBy(() -> r.rollback("ranker", "production"))
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("no earlier target");
    assertThat(r.verify(v1).parameters().get("task_tokens")).isEqualTo(model(20, 1).get("task_tokens"));
    assertThat(r.verify(v1).metadata()).containsEntry("note", "first");
  }

  @Test
  void rollbackWalksBackThroughABoundedHistory() throws Exception {
    ModelRegistry r = ModelRegistry.open(root);
    for (int i = 0; i < AliasFile.HISTORY + 3; i++) {
      r.publish("m", model(5, i), Map.of(), "{}");
      r.setAlias("m", "production", i + 1);
    }
    r.setAlias("m", "production", AliasFile.HISTORY + 3); // unchanged: no history entry
    for (int back = 1; back <= AliasFile.HISTORY; back++) {
      assertThat(r.rollback("m", "production").number()).isEqualTo(AliasFile.HISTORY + 3 - back);
    }
    assertThatThrownBy(() -> r.rollback("m", "production")).isInstanceOf(IllegalStateException.class);
  }

  @Test
  void concurrentPublishersGetDistinctIncreasingVersions() throws Exception {
    ModelRegistry r = ModelRegistry.open(root);
    int threads = 8;
    int each = 3;
    CountDownLatch start = new CountDownLatch(1);
    List<Future<List<Long>>> results = new ArrayList<>();
    try (ExecutorService pool = Executors.newFixedThreadPool(threads)) {
      for (int t = 0; t < threads; t++) {
        Parameters p = model(50, t);
        results.add(pool.submit(() -> {
          start.await();
          List<Long> mine = new ArrayList<>();
          for (int i = 0; i < each; i++) {
            mine.add(ModelRegistry.open(root).publish("shared", p, Map.of(), "{}").number());
          }
          return mine;
        }));
      }
      start.countDown();
      List<Long> all = new ArrayList<>();
      for (Future<List<Long>> f : results) {
        List<Long> mine = f.get();
        assertThat(mine).isSorted();
        all.addAll(mine);
      }
      assertThat(all).doesNotHaveDuplicates().hasSize(threads * each);
      assertThat(all.stream().mapToLong(Long::longValue).max()).hasValue(threads * each);
    }
    List<Version> visible = r.versions("shared");
    assertThat(visible).extracting(Version::number).containsExactlyElementsOf(
        LongStream.rangeClosed(1, threads * each).boxed().toList());
    for (Version v : visible) {
      r.verify(v);
    }
    try (var left = Files.list(root.resolve("shared"))) {
      assertThat(left.map(p -> p.getFileName().toString())).noneMatch(n -> n.startsWith(ModelRegistry.TEMP_PREFIX));
    }
  }

  @Test
  void verifyDetectsAByteFlippedAfterPublishing() throws Exception {
    ModelRegistry r = ModelRegistry.open(root);
    Version v = r.publish("m", model(20, 1), Map.of(), "{}");
    r.verify(v);
    try (RandomAccessFile f = new RandomAccessFile(v.file().toFile(), "rw")) {
      f.seek(f.length() - 5);
      int b = f.read();
      f.seek(f.length() - 5);
      f.write(b ^ 0x10);
    }
    assertThatThrownBy(() -> r.verify(r.version("m", 1)))
        .isInstanceOf(ModelFileException.class).hasMessageContaining("SHA-256").hasMessageContaining(v.sha256());
  }

  @Test
  void verifyRejectsAFileThatMatchesItsHashButIsNoModel() throws Exception {
    ModelRegistry r = ModelRegistry.open(root);
    Version v = r.publish("m", model(20, 1), Map.of(), "{}");
    byte[] junk = "not a model".getBytes();
    Files.write(v.file(), junk);
    Files.writeString(v.file().resolveSibling("COMPLETE"), DurableFiles.sha256(junk));
    assertThatThrownBy(() -> r.verify(r.version("m", 1))).isInstanceOf(ModelFileException.class)
        .hasMessageContaining(v.file().toString());
  }

  @Test
  void leftoversOfCrashedPublishesAreInvisibleAndNumbersAreNotReused() throws Exception {
    ModelRegistry r = ModelRegistry.open(root);
    r.publish("m", model(5, 1), Map.of(), "{}");
    Path crashedBeforeRename = Files.createDirectories(root.resolve("m/.tmp-dead"));
    Files.writeString(crashedBeforeRename.resolve("model.safetensors"), "partial");
    Path crashedBeforeMarker = Files.createDirectories(root.resolve("m/2"));
    Files.copy(root.resolve("m/1/model.safetensors"), crashedBeforeMarker.resolve("model.safetensors"));
    Files.writeString(crashedBeforeMarker.resolve("lineage.json"), "{}");
    Path badMarker = Files.createDirectories(root.resolve("m/3"));
    Files.copy(root.resolve("m/1/model.safetensors"), badMarker.resolve("model.safetensors"));
    Files.writeString(badMarker.resolve("lineage.json"), "{}");
    Files.writeString(badMarker.resolve("COMPLETE"), "half-written");

    assertThat(r.versions("m")).extracting(Version::number).containsExactly(1L);
    assertThat(r.resolve("m", "2")).isEmpty();
    assertThat(r.publish("m", model(5, 2), Map.of(), "{}").number()).isEqualTo(4);
    assertThat(r.versions("m")).extracting(Version::number).containsExactly(1L, 4L);

    assertThat(r.gc(Duration.ofHours(1))).isZero(); // may be a live publish
    Files.setLastModifiedTime(crashedBeforeRename, FileTime.from(Instant.now().minus(Duration.ofHours(2))));
    assertThat(r.gc(Duration.ofHours(1))).isEqualTo(1);
    assertThat(crashedBeforeRename).doesNotExist();
    assertThat(crashedBeforeMarker).exists();
  }

  @Test
  void rejectsBadNamesLineageAndFilesWithClearMessages() throws Exception {
    ModelRegistry r = ModelRegistry.open(root);
    Parameters p = model(5, 1);
    for (String bad : new String[] {"", ".hidden", "-x", "a/b", "..", "a b"}) {
      assertThatThrownBy(() -> r.publish(bad, p, Map.of(), "{}"))
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("invalid model name '" + bad + "'");
    }
    assertThatThrownBy(() -> r.publish("m", p, Map.of(), "{not json"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("lineage is not valid JSON");
    assertThatThrownBy(() -> r.publish("m", p, Map.of(), "  "))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("lineage must be a JSON document");
    Path junk = Files.writeString(root.resolve("junk.safetensors"), "junk");
    assertThatThrownBy(() -> r.publish("m", junk, "{}"))
        .isInstanceOf(ModelFileException.class).hasMessageContaining("junk.safetensors");
    assertThat(r.models()).isEmpty();

    r.publish("m", p, Map.of(), "{}");
    for (String bad : new String[] {"Production", "1", "latest", "9lives", "a.b"}) {
      assertThatThrownBy(() -> r.setAlias("m", bad, 1))
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("invalid alias '" + bad + "'");
    }
    assertThatThrownBy(() -> r.setAlias("m", "production", 2))
        .isInstanceOf(NoSuchElementException.class).hasMessage("model 'm' has no version 2");
    assertThatThrownBy(() -> r.version("other", 1)).isInstanceOf(NoSuchElementException.class);
    assertThatThrownBy(() -> r.rollback("m", "production"))
        .isInstanceOf(NoSuchElementException.class).hasMessage("model 'm' has no alias 'production'");
    assertThat(r.versions("other")).isEmpty();
    assertThat(r.latest("other")).isEmpty();
    assertThat(r.aliases("other")).isEmpty();
  }
}
