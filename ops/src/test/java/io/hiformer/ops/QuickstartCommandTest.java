package io.hiformer.ops;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The main job end to end, on less data: it learns the planted interaction and verifies its own file. */
class QuickstartCommandTest {

  @Test
  void trainsSavesReloadsAndVerifies(@TempDir Path dir) {
    VerifyCommandTest.Result r = VerifyCommandTest.run("quickstart", "--out", dir.toString(),
        "--examples", "16000", "--epochs", "5");

    assertThat(r.exit()).as(r.out()).isZero();
    assertThat(r.out()).contains("read back bit-exact").contains("PASS");
    assertThat(dir.resolve("model.safetensors")).isRegularFile();

    VerifyCommandTest.Result v = VerifyCommandTest.run("verify", dir.resolve("model.safetensors").toString(),
        dir.resolve("expected.safetensors").toString());
    assertThat(v.exit()).as(v.out()).isZero();
  }
}
