package io.hiformer.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.DataInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code hiformer evaluate} end to end: two versions published by {@code hiformer train}, scored
 * on the test file; the report repeats train's test metrics, gates with {@code --require}, and
 * renders in headless Chromium with every plot.
 */
class EvaluateCommandTest {
  private static final Path CHROMIUM = Path.of("/usr/bin/chromium");

  @TempDir
  static Path dir;
  static Path registry;
  static JsonNode weak;
  static JsonNode strong;

  /** Requests of 4 rows; clicks follow user group x item group x hour parity, as in TrainCommandTest. */
  static void writeCsv(Path file, int rows, long seed) throws Exception {
    SplittableRandom rnd = new SplittableRandom(seed);
    List<String> lines = new ArrayList<>();
    lines.add("request_id,user,item,hour,price,clicked,country");
    for (int i = 0; i < rows; i++) {
      int user = rnd.nextInt(12);
      int item = rnd.nextInt(9);
      int hour = rnd.nextInt(4);
      boolean match = (user % 3 == item % 3) == (hour % 2 == 0);
      boolean click = rnd.nextDouble() < (match ? 0.8 : 0.15);
      lines.add(String.format(Locale.ROOT, "q%d-%d,u%d,i%d,%d,%.2f,%d,%s", seed, i / 4, user, item, hour, rnd.nextGaussian() * 10 + 50,
          click ? 1 : 0, user % 2 == 0 ? "de" : "fr"));
    }
    Files.write(file, lines);
  }

  static JsonNode train(String name, String... extra) throws Exception {
    Path report = dir.resolve(name + ".json");
    List<String> args = new ArrayList<>(List.of("train", "--schema", dir.resolve("schema.yaml").toString(), "--data-dir",
        dir.toString(), "--train", "train.csv", "--valid", "valid.csv", "--test", "test.csv", "--token-dim", "8",
        "--dropout", "0", "--token-dropout", "0", "--kernels", "scalar", "--threads", "2",
        "--registry", registry.toString(), "--name", "ctr", "--report-json", report.toString()));
    args.addAll(List.of(extra));
    VerifyCommandTest.Result r = VerifyCommandTest.run(args.toArray(String[]::new));
    assertThat(r.exit()).as(r.out() + r.err()).isZero();
    return new ObjectMapper().readTree(report.toFile());
  }

  @BeforeAll
  static void publishTwoVersions() throws Exception {
    Files.writeString(dir.resolve("schema.yaml"), TrainCommandTest.SCHEMA);
    writeCsv(dir.resolve("train.csv"), 6000, 1);
    writeCsv(dir.resolve("valid.csv"), 2000, 2);
    writeCsv(dir.resolve("test.csv"), 2000, 3);
    registry = dir.resolve("registry");
    weak = train("weak", "--epochs", "1", "--lr", "1e-4");
    strong = train("strong", "--epochs", "8", "--lr", "3e-3", "--variant", "vanilla");
  }

  static VerifyCommandTest.Result evaluate(Path out, String... extra) {
    List<String> args = new ArrayList<>(List.of("evaluate", "--registry", registry.toString(), "--model", "ctr",
        "--versions", "1,2", "--data-dir", dir.toString(), "--data", "test.csv", "--out", out.toString(),
        "--kernels", "scalar", "--threads", "2", "--bootstrap", "200"));
    args.addAll(List.of(extra));
    return VerifyCommandTest.run(args.toArray(String[]::new));
  }

  @Test
  void reportsTrainsTestMetricsAndGatesOnRequirements() throws Exception {
    Path out = dir.resolve("passing");
    VerifyCommandTest.Result r = evaluate(out, "--slices", "country", "--require", "auc.lo>=0,logloss.hi<0",
        "--require", "click:gauc>=+0.01");
    assertThat(r.exit()).as(r.out() + r.err()).isZero();
    assertThat(r.out()).contains("require auc.lo>=0: v2 click").contains("pass").doesNotContain("FAIL");

    JsonNode summary = new ObjectMapper().readTree(out.resolve("summary.json").toFile());
    assertThat(summary.at("/rows").asLong()).isEqualTo(2000);
    assertThat(summary.at("/groups").asLong()).isEqualTo(500);
    assertThat(summary.at("/group_by").asText()).isEqualTo("request_id");
    // The same versions on the same file: train's figures, AUC bit for bit (same scalar kernels).
    for (String[] v : new String[][] {{"v1", "weak"}, {"v2", "strong"}}) {
      JsonNode trained = v[1].equals("weak") ? weak : strong;
      JsonNode got = summary.at("/tasks/click/versions/" + v[0]);
      assertThat(got.at("/auc").asDouble()).isEqualTo(trained.at("/test/click/auc").asDouble());
      assertThat(got.at("/logloss").asDouble()).isCloseTo(trained.at("/test/click/logloss").asDouble(), within(1e-12));
      assertThat(got.at("/rows").asLong()).isEqualTo(trained.at("/test/click/examples").asLong());
    }
    JsonNode auc = summary.at("/tasks/click/deltas/v2/auc");
    assertThat(auc.at("/verdict").asText()).isEqualTo("better");
    assertThat(auc.at("/lo").asDouble()).isPositive().isLessThan(auc.at("/delta").asDouble());
    assertThat(summary.at("/slices/country/values")).hasSize(2);
    assertThat(summary.at("/passed").asBoolean()).isTrue();
    assertThat(summary.at("/requirements")).hasSize(3);

    VerifyCommandTest.Result failing = evaluate(dir.resolve("failing"), "--require", "auc<=0");
    assertThat(failing.exit()).as(failing.out() + failing.err()).isEqualTo(1);
    assertThat(failing.out()).contains("require auc<=0: v2 click").contains("FAIL");
    assertThat(new ObjectMapper().readTree(dir.resolve("failing/summary.json").toFile()).at("/passed").asBoolean())
        .isFalse();
  }

  @Test
  void badInputExitsTwoNamingWhatIsWrong() {
    VerifyCommandTest.Result unknownVersion = evaluate(dir.resolve("x"), "--versions", "1,7");
    assertThat(unknownVersion.exit()).isEqualTo(2);
    assertThat(unknownVersion.err()).contains("error:").contains("'7'");

    VerifyCommandTest.Result unknownMetric = evaluate(dir.resolve("x"), "--require", "accuracy>=0");
    assertThat(unknownMetric.exit()).isEqualTo(2);
    assertThat(unknownMetric.err()).contains("no metric 'accuracy'");

    VerifyCommandTest.Result badSyntax = evaluate(dir.resolve("x"), "--require", "auc=>0");
    assertThat(badSyntax.exit()).isEqualTo(2);
    assertThat(badSyntax.err()).contains("'auc=>0'");

    VerifyCommandTest.Result missingFile = evaluate(dir.resolve("x"), "--data", "nope.csv");
    assertThat(missingFile.exit()).isEqualTo(2);
    assertThat(missingFile.err()).contains("nope.csv");

    VerifyCommandTest.Result both = evaluate(dir.resolve("x"), "--examples-topic", "examples");
    assertThat(both.exit()).isEqualTo(2);
    assertThat(both.err()).contains("give either --data FILES or --examples-topic TOPIC");

    VerifyCommandTest.Result noKafka = VerifyCommandTest.run("evaluate", "--registry", registry.toString(), "--model",
        "ctr", "--versions", "1,2", "--examples-topic", "examples", "--out", dir.resolve("x").toString());
    assertThat(noKafka.exit()).isEqualTo(2);
    assertThat(noKafka.err()).contains("--examples-topic needs --bootstrap-servers");
  }

  @Test
  void aDenseValueTheModelCannotReadIsABadRowWithFileAndLine() throws Exception {
    // 1e39 is no float; 1e40 standardised (std about 10) is none either.
    for (String bad : List.of("1e39", "1e40")) {
      List<String> lines = new ArrayList<>(Files.readAllLines(dir.resolve("test.csv")));
      String[] cells = lines.get(100).split(",");
      cells[4] = bad;
      lines.set(100, String.join(",", cells));
      Files.write(dir.resolve("test-bad.csv"), lines);
      VerifyCommandTest.Result stopped = evaluate(dir.resolve("bad"), "--data", "test-bad.csv");
      assertThat(stopped.exit()).as(stopped.out() + stopped.err()).isEqualTo(2);
      assertThat(stopped.err()).contains("test-bad.csv:101: field 'price': column 'price'").doesNotContain("\tat ");
      VerifyCommandTest.Result skipped = evaluate(dir.resolve("bad"), "--data", "test-bad.csv", "--max-bad-rows", "1");
      assertThat(skipped.exit()).as(skipped.out() + skipped.err()).isZero();
      // test.csv (evaluate's default here) and test-bad.csv without its bad row.
      assertThat(new ObjectMapper().readTree(dir.resolve("bad/summary.json").toFile()).at("/rows").asLong())
          .isEqualTo(2000 + 1999);
    }
  }

  @Test
  void skippedBadRowsAreCountedAndLocated() throws Exception {
    List<String> lines = new ArrayList<>(Files.readAllLines(dir.resolve("test.csv")));
    lines.add(3, "q9-0,u1,i2,3,not-a-price,1,de");
    Files.write(dir.resolve("test-bad.csv"), lines);
    Path out = dir.resolve("bad-rows");
    VerifyCommandTest.Result r = evaluate(out, "--data", "test-bad.csv", "--max-bad-rows", "1");
    assertThat(r.exit()).as(r.out() + r.err()).isZero();
    assertThat(r.out()).contains("skipped 1 bad rows; first at " + dir.resolve("test-bad.csv") + ":4");
    assertThat(new ObjectMapper().readTree(out.resolve("summary.json").toFile()).at("/bad_rows").asLong()).isEqualTo(1);
  }

  @Test
  void aSliceColumnTheDataLacksIsAnError() {
    Path out = dir.resolve("no-such-slice");
    VerifyCommandTest.Result r = evaluate(out, "--slices", "country,continent");
    assertThat(r.exit()).as(r.out() + r.err()).isEqualTo(2);
    assertThat(r.err()).contains("error:").contains("test.csv:2: no column 'continent' to slice by")
        .doesNotContain("\tat ");
    assertThat(out.resolve("summary.json")).doesNotExist();
  }

  @Test
  void aModelFileChangedAfterPublishingIsRefused() throws Exception {
    Path copy = dir.resolve("tampered-registry");
    try (var files = Files.walk(registry)) {
      for (Path p : files.toList()) {
        Files.copy(p, copy.resolve(registry.relativize(p).toString()));
      }
    }
    Path file = copy.resolve("ctr/2/model.safetensors");
    byte[] bytes = Files.readAllBytes(file);
    bytes[bytes.length - 1] ^= 1;
    Files.write(file, bytes);
    VerifyCommandTest.Result r = VerifyCommandTest.run("evaluate", "--registry", copy.toString(), "--model", "ctr",
        "--versions", "1,2", "--data-dir", dir.toString(), "--data", "test.csv", "--out", dir.resolve("t").toString());
    assertThat(r.exit()).isEqualTo(2);
    assertThat(r.err()).contains("error:").contains("SHA-256");
    assertThat(dir.resolve("t")).doesNotExist();
  }

  @Test
  void theHtmlReportRendersInHeadlessChromiumWithEveryPlot() throws Exception {
    assumeTrue(Files.isExecutable(CHROMIUM), "no " + CHROMIUM + " (apt-get install -y chromium): skipping the "
        + "screenshot test of the HTML report");
    Path out = dir.resolve("rendered");
    VerifyCommandTest.Result r = evaluate(out, "--slices", "country,hour");
    assertThat(r.exit()).as(r.out() + r.err()).isZero();
    Path html = out.resolve("report.html");
    assertThat(Files.readString(html)).doesNotContain("http://").doesNotContain("https://").doesNotContain("<script");

    Path png = dir.resolve("report.png");
    chromium("--screenshot=" + png, "--window-size=1280,4000", html.toUri().toString());
    try (DataInputStream in = new DataInputStream(Files.newInputStream(png))) {
      byte[] signature = new byte[8];
      in.readFully(signature);
      assertThat(signature).isEqualTo(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
      in.readInt();
      assertThat(in.readInt()).as("IHDR").isEqualTo(0x49484452);
      assertThat(in.readInt()).as("width").isEqualTo(1280);
      assertThat(in.readInt()).as("height").isEqualTo(4000);
    }
    assertThat(Files.size(png)).as("a page with plots, not a blank one").isGreaterThan(50_000);

    String dom = chromium("--dump-dom", html.toUri().toString());
    List<String> ids = new ArrayList<>();
    Matcher m = Pattern.compile("<svg[^>]*\\bid=\"([^\"]+)\"").matcher(dom);
    while (m.find()) {
      ids.add(m.group(1));
    }
    assertThat(ids).containsExactlyInAnyOrder("roc-click", "reliability-click", "histogram-click-v1",
        "histogram-click-v2", "deltas-click-v2", "slice-country-click-v2", "slice-hour-click-v2");
    assertThat(dom).contains("<polyline").contains("<rect").contains("<circle");
  }

  /** Runs headless Chromium on a fresh profile without network chatter; returns its standard output. */
  private static String chromium(String... args) throws Exception {
    Path profile = Files.createTempDirectory(dir, "chromium-profile");
    List<String> command = new ArrayList<>(List.of(CHROMIUM.toString(), "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--user-data-dir=" + profile));
    command.addAll(List.of(args));
    Path stdout = dir.resolve("chromium.out");
    Path log = dir.resolve("chromium.log");
    Process p = new ProcessBuilder(command).redirectOutput(stdout.toFile()).redirectError(log.toFile()).start();
    if (!p.waitFor(60, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError("chromium did not finish in 60 s");
    }
    assertThat(p.exitValue()).as(Files.readString(log)).isZero();
    return Files.readString(stdout, StandardCharsets.UTF_8);
  }
}
