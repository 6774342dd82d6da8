package io.hiformer.ops;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/** The whole demo, small: every step runs for real (broker, ranker, joiner, training, evaluation, swap). */
class DemoCommandTest {
  @TempDir
  Path dir;

  /** With each online feature store: the in-memory default and the disk-backed one. */
  @ParameterizedTest
  @ValueSource(strings = {"memory", "rocksdb"})
  void runsEndToEndAndSwapsTheWinnerInLiveWithoutErrors(String store) throws Exception {
    Path out = dir.resolve("demo");
    VerifyCommandTest.Result r = VerifyCommandTest.run("demo", "--out", out.toString(), "--users", "600",
        "--items", "200", "--history", "6000", "--requests", "600", "--epochs", "2", "--feature-store", store);
    assertThat(r.exit()).as(r.out() + r.err()).isZero();
    assertThat(r.out()).contains("Summary", "interaction recovered", "the ranker switched", ", 0 errors");
    assertThat(out.resolve("report/report.html")).isNotEmptyFile();
    assertThat(out.resolve("report/summary.json")).isNotEmptyFile();
    assertThat(Files.readString(out.resolve("demo.log"))).contains("published", "; store " + store);
    assertThat(io.hiformer.model.ModelRegistry.open(out.resolve("registry")).versions("demo"))
        .extracting(io.hiformer.model.ModelRegistry.Version::number).containsExactly(1L, 2L);
  }
}
