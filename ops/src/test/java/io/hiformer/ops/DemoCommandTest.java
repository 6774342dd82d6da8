package io.hiformer.ops;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * The whole demo, small: every step runs for real (broker, ranker, joiner, training, evaluation, swap,
 * then the launch served by a frozen and a continuously trained arm).
 */
class DemoCommandTest {
  @TempDir
  Path dir;

  /** With each online feature store: the in-memory default and the disk-backed one. */
  @ParameterizedTest
  @ValueSource(strings = {"memory", "rocksdb"})
  void runsEndToEndAndSwapsTheWinnerInLiveWithoutErrors(String store) throws Exception {
    Path out = dir.resolve("demo");
    VerifyCommandTest.Result r = VerifyCommandTest.run("demo", "--out", out.toString(), "--users", "600",
        "--items", "200", "--history", "6000", "--requests", "900", "--epochs", "2", "--launched", "20",
        "--feature-store", store);
    assertThat(r.exit()).as(r.out() + r.err()).isZero();
    assertThat(r.out()).contains("Summary", "interaction recovered", "the ranker switched", ", 0 errors");
    // --continuous (the default): the launched items, two arms, and the continuously trained one ahead on them.
    assertThat(r.out()).contains("arms 'frozen' (v1) and 'continuous'", "continuous trainer: ", "item_id ",
        "launched items (after v1)", "freshness, outcome to served: ");
    java.util.regex.Matcher delta = java.util.regex.Pattern.compile(
        "continuous - frozen AUC ([-+][0-9.]+), 95% interval \\[([-+][0-9.]+), ([-+][0-9.]+)\\]").matcher(r.out());
    assertThat(delta.find()).as(r.out()).isTrue();
    // 20 launched items and 900 calls after the launch: each new item is seen often enough that the
    // difference is clear in this small world too (60 items after 600 calls left it to chance)
    if (store.equals("memory")) {
      // Only with the default store: with rocksdb the launched items' features can reach the store
      // after the post-launch burst was served (known, issue 24), so its arm learns from rows that
      // miss them and the comparison is left to timing.
      assertThat(Double.parseDouble(delta.group(2))).as("lower end of the AUC difference's interval\n" + r.out())
          .isPositive();
    }
    java.util.regex.Matcher fresh = java.util.regex.Pattern.compile("outcome to served: ([0-9.]+) s").matcher(r.out());
    assertThat(fresh.find()).isTrue();
    assertThat(Double.parseDouble(fresh.group(1))).as("freshness, seconds").isLessThan(120);
    assertThat(out.resolve("report-launched/summary.json")).isNotEmptyFile();
    assertThat(out.resolve("report/report.html")).isNotEmptyFile();
    assertThat(out.resolve("report/summary.json")).isNotEmptyFile();
    assertThat(Files.readString(out.resolve("demo.log"))).contains("published", "; store " + store);
    assertThat(io.hiformer.model.ModelRegistry.open(out.resolve("registry")).versions("demo"))
        .extracting(io.hiformer.model.ModelRegistry.Version::number).startsWith(1L, 2L, 3L);
  }
}
