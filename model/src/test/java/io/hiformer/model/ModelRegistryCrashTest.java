package io.hiformer.model;

import static org.assertj.core.api.Assertions.assertThat;

import io.hiformer.model.ModelRegistry.Stage;
import io.hiformer.model.ModelRegistry.Version;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A publisher killed (SIGKILL, no shutdown hooks) in the middle of a publish leaves no visible
 * version, and the next publish gets the next unused number. The publisher is a real child JVM.
 */
@Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class ModelRegistryCrashTest {
  @TempDir
  Path dir;

  @Test
  void killedBeforeTheRenameLeavesATempDirectoryAndNoVersion() throws Exception {
    ModelRegistry r = registryWithOneVersion();

    killWhilePublishing(Stage.TEMP_WRITTEN);

    assertThat(r.versions("ranker")).extracting(Version::number).containsExactly(1L);
    assertThat(entries(r.root().resolve("ranker"))).anyMatch(n -> n.startsWith(ModelRegistry.TEMP_PREFIX));
    assertThat(r.publish("ranker", ModelRegistryTest.model(20, 3), Map.of(), "{}").number()).isEqualTo(2);
    assertThat(r.versions("ranker")).extracting(Version::number).containsExactly(1L, 2L);
    r.verify(r.version("ranker", 2));
  }

  @Test
  void killedBetweenTheRenameAndTheMarkerLeavesAnInvisibleVersionDirectory() throws Exception {
    ModelRegistry r = registryWithOneVersion();

    killWhilePublishing(Stage.RENAMED);

    Path orphan = r.root().resolve("ranker/2");
    assertThat(orphan.resolve(ModelRegistry.MODEL_FILE)).exists();
    assertThat(orphan.resolve(ModelRegistry.MARKER)).doesNotExist();
    assertThat(r.versions("ranker")).extracting(Version::number).containsExactly(1L);
    assertThat(r.latest("ranker").orElseThrow().number()).isEqualTo(1);
    assertThat(r.resolve("ranker", "2")).isEmpty();
    assertThat(r.publish("ranker", ModelRegistryTest.model(20, 3), Map.of(), "{}").number()).isEqualTo(3);
    assertThat(r.versions("ranker")).extracting(Version::number).containsExactly(1L, 3L);
    r.verify(r.version("ranker", 3));
  }

  private ModelRegistry registryWithOneVersion() throws Exception {
    ModelRegistry r = ModelRegistry.open(dir.resolve("registry"));
    r.publish("ranker", ModelRegistryTest.model(20, 1), Map.of(), "{}");
    r.setAlias("ranker", "production", 1);
    return r;
  }

  /** Runs {@link PausingPublisher} on a model of about 16 MB and kills it where it pauses. */
  private void killWhilePublishing(Stage stage) throws Exception {
    Path big = dir.resolve("big.safetensors");
    ModelFile.write(big, ModelRegistryTest.model(500_000, 2), Map.of());
    Path stderr = dir.resolve("child.err");
    Process child = new ProcessBuilder(ProcessHandle.current().info().command().orElseThrow(),
        "-cp", System.getProperty("java.class.path"), PausingPublisher.class.getName(),
        dir.resolve("registry").toString(), "ranker", big.toString(), stage.name())
        .redirectError(stderr.toFile())
        .start();
    try (BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
      String line = out.readLine();
      assertThat(line).as("child stdout; stderr: %s", Files.readString(stderr)).isEqualTo(PausingPublisher.PAUSED + stage);
    } finally {
      child.destroyForcibly();
      assertThat(child.waitFor(30, TimeUnit.SECONDS)).isTrue();
    }
  }

  private static List<String> entries(Path dir) throws Exception {
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString()).toList();
    }
  }
}
