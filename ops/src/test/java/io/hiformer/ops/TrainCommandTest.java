package io.hiformer.ops;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.hiformer.model.ModelFile;
import io.hiformer.model.ModelRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** {@code hiformer train} on small CSV files with a planted interaction, end to end. */
class TrainCommandTest {

  static final String SCHEMA = """
      tasks:
        - {name: click, column: clicked}
      fields:
        - {name: user, kind: categorical, side: user}
        - {name: item, kind: categorical, side: item}
        - {name: hour, kind: categorical, side: context}
        - {name: price, kind: dense, side: item, standardize: true}
      """;

  /** Clicks follow user group x item group x hour parity; no field alone predicts them. */
  static void writeCsv(Path file, int rows, long seed, String badRow) throws Exception {
    SplittableRandom rnd = new SplittableRandom(seed);
    List<String> lines = new ArrayList<>();
    lines.add("user,item,hour,price,clicked");
    for (int i = 0; i < rows; i++) {
      int user = rnd.nextInt(12);
      int item = rnd.nextInt(9);
      int hour = rnd.nextInt(4);
      double price = rnd.nextGaussian() * 10 + 50;
      boolean match = (user % 3 == item % 3) == (hour % 2 == 0);
      boolean click = rnd.nextDouble() < (match ? 0.8 : 0.15);
      lines.add("u" + user + ",i" + item + "," + hour + "," + String.format("%.2f", price) + "," + (click ? 1 : 0));
      if (badRow != null && i == rows / 2) {
        lines.add(badRow);
      }
    }
    Files.write(file, lines);
  }

  @Test
  void trainsPublishesAndReports(@TempDir Path dir) throws Exception {
    Files.writeString(dir.resolve("schema.yaml"), SCHEMA);
    writeCsv(dir.resolve("train.csv"), 6000, 1, null);
    writeCsv(dir.resolve("valid.csv"), 2000, 2, null);
    Path registry = dir.resolve("registry");
    Path report = dir.resolve("report.json");

    VerifyCommandTest.Result r = VerifyCommandTest.run("train", "--schema", dir.resolve("schema.yaml").toString(),
        "--data-dir", dir.toString(), "--train", "train.csv", "--valid", "valid.csv", "--test", "valid.csv",
        "--token-dim", "8", "--epochs", "8", "--lr", "3e-3", "--dropout", "0", "--token-dropout", "0",
        "--registry", registry.toString(), "--name", "ctr", "--report-json", report.toString());

    assertThat(r.exit()).as(r.out() + r.err()).isZero();
    JsonNode json = new ObjectMapper().readTree(report.toFile());
    double auc = json.at("/valid/click/auc").asDouble();
    assertThat(auc).as("validation AUC of the planted interaction").isGreaterThan(0.78);
    assertThat(json.at("/test/click/auc").asDouble()).isEqualTo(auc);
    ModelRegistry.Version v = ModelRegistry.open(registry).latest("ctr").orElseThrow();
    assertThat(v.number()).isEqualTo(1);
    assertThat(v.lineageJson()).contains("train.csv").contains("sha256").contains("source_commit");
    var loaded = ModelFile.load(v.file());
    assertThat(loaded.metadata()).containsKeys("transforms", "metrics");
  }

  @Test
  void aBadRowStopsTheRunWithFileAndLineUnlessTolerated(@TempDir Path dir) throws Exception {
    Files.writeString(dir.resolve("schema.yaml"), SCHEMA);
    writeCsv(dir.resolve("train.csv"), 400, 3, "u1,i2,3,not-a-price,1");
    writeCsv(dir.resolve("valid.csv"), 200, 4, null);
    String[] args = {"train", "--schema", dir.resolve("schema.yaml").toString(), "--data-dir", dir.toString(),
        "--train", "train.csv", "--valid", "valid.csv", "--token-dim", "4", "--epochs", "1",
        "--out", dir.resolve("m.safetensors").toString()};

    VerifyCommandTest.Result stopped = VerifyCommandTest.run(args);
    assertThat(stopped.exit()).isEqualTo(2);
    assertThat(stopped.err()).contains("train.csv:203").contains("price");

    List<String> tolerant = new ArrayList<>(List.of(args));
    tolerant.addAll(List.of("--max-bad-rows", "1"));
    VerifyCommandTest.Result ok = VerifyCommandTest.run(tolerant.toArray(String[]::new));
    assertThat(ok.exit()).as(ok.out() + ok.err()).isZero();
    assertThat(dir.resolve("m.safetensors")).isRegularFile();
  }

  @Test
  void aDenseValueThatIsNoFiniteFloatIsABadRowWithFileAndLine(@TempDir Path dir) throws Exception {
    // 1e308 once made a standardised column's std Infinity (the feature silently 0); 1e39 in a raw
    // column stopped the run at "example 208" and --max-bad-rows did not skip it.
    String raw = SCHEMA.replace("price, kind: dense, side: item, standardize: true", "price, kind: dense, side: item");
    for (String[] c : new String[][] {{SCHEMA, "1e308"}, {raw, "1e39"}, {raw, "-Infinity"}}) {
      Files.writeString(dir.resolve("schema.yaml"), c[0]);
      writeCsv(dir.resolve("train.csv"), 3000, 3, "u1,i2,3," + c[1] + ",1");
      writeCsv(dir.resolve("valid.csv"), 1000, 4, null);
      Path out = dir.resolve("m.safetensors");
      Files.deleteIfExists(out);
      String[] args = {"train", "--schema", dir.resolve("schema.yaml").toString(), "--data-dir", dir.toString(),
          "--train", "train.csv", "--valid", "valid.csv", "--token-dim", "8", "--epochs", "5", "--out", out.toString()};

      VerifyCommandTest.Result stopped = VerifyCommandTest.run(args);
      assertThat(stopped.exit()).as(c[1] + ": " + stopped.err()).isEqualTo(2);
      assertThat(stopped.err()).contains("train.csv:1503: field 'price': column 'price' is ")
          .doesNotContain("example").doesNotContain("\tat ");

      List<String> tolerant = new ArrayList<>(List.of(args));
      tolerant.addAll(List.of("--max-bad-rows", "1"));
      VerifyCommandTest.Result ok = VerifyCommandTest.run(tolerant.toArray(String[]::new));
      assertThat(ok.exit()).as(c[1] + ": " + ok.out() + ok.err()).isZero();
      JsonNode price = new ObjectMapper().readTree(ModelFile.load(out).metadata().get("transforms")).at("/fields/3");
      assertThat(price.at("/name").asText()).isEqualTo("price");
      assertThat(price.at("/std").asDouble()).as("fitted without the bad row").isBetween(5.0, 20.0);
      assertThat(price.at("/mean").asDouble()).isBetween(40.0, 60.0);
    }
  }

  /** A small run on 600 training and 300 validation rows of {@link #writeCsv}, writing {@code m.safetensors}. */
  static List<String> smallRun(Path dir, String... extra) throws Exception {
    if (!Files.exists(dir.resolve("schema.yaml"))) {
      Files.writeString(dir.resolve("schema.yaml"), SCHEMA);
      writeCsv(dir.resolve("train.csv"), 600, 5, null);
      writeCsv(dir.resolve("valid.csv"), 300, 6, null);
    }
    List<String> args = new ArrayList<>(List.of("train", "--schema", dir.resolve("schema.yaml").toString(),
        "--data-dir", dir.toString(), "--train", "train.csv", "--valid", "valid.csv", "--token-dim", "4",
        "--epochs", "3", "--lr", "3e-3", "--batch-size", "128", "--threads", "2", "--kernels", "scalar"));
    if (!List.of(extra).contains("--registry")) {
      args.addAll(List.of("--out", dir.resolve("m.safetensors").toString()));
    }
    for (int i = 0; i < extra.length; i++) {  // an option given twice is refused: extra ones replace the defaults
      int at = extra[i].startsWith("--") && i + 1 < extra.length ? args.indexOf(extra[i]) : -1;
      if (at >= 0) {
        args.set(at + 1, extra[++i]);
      } else {
        args.add(extra[i]);
      }
    }
    return args;
  }

  static VerifyCommandTest.Result train(Path dir, String... extra) throws Exception {
    return VerifyCommandTest.run(smallRun(dir, extra).toArray(String[]::new));
  }

  /** A clean refusal: the exit code, one error line naming the problem, no trace, no model. */
  static void refused(VerifyCommandTest.Result r, int exit, Path dir, String... named) {
    assertThat(r.exit()).as(r.out() + r.err()).isEqualTo(exit);
    assertThat(r.err().strip().lines()).as(r.err()).hasSize(1);
    assertThat(r.err()).startsWith("error: ").contains(named).doesNotContain("\tat ").doesNotContain("Exception");
    assertThat(dir.resolve("m.safetensors")).doesNotExist();
  }

  @Test
  void withoutAGpuCudaExitsTwoSayingWhyAndAutoTrainsOnTheCpuWithOneLine(@TempDir Path dir) throws Exception {
    org.junit.jupiter.api.Assumptions.assumeTrue(!gpu(), "a GPU is usable here");
    refused(train(dir, "--backend", "cuda"), 2, dir, "no usable GPU: ");
    VerifyCommandTest.Result auto = train(dir, "--backend", "auto", "--epochs", "1");
    // trained on the CPU (whether 600 rows beat the initial model in one epoch is not the point here)
    assertThat(auto.out()).as(auto.out() + auto.err()).contains("epoch 1: train loss");
    assertThat(auto.out().lines().filter(l -> l.startsWith("training on the CPU: no usable GPU: "))).hasSize(1);
    refused(train(dir, "--backend", "tpu"), 2, dir, "--backend must be auto, cpu or cuda, got 'tpu'");
  }

  private static boolean gpu() {
    try {
      io.hiformer.kernels.cuda.CudaDevice.shared();
      return true;
    } catch (io.hiformer.kernels.cuda.CudaUnavailableException e) {
      return false;
    }
  }

  @ParameterizedTest
  @CsvSource({"--batch-size,0", "--batch-size,-5", "--threads,0", "--threads,100000", "--lr,0", "--lr,-1",
      "--lr,NaN", "--lr,Infinity", "--dropout,1", "--dropout,-0.1", "--token-dropout,1.5", "--ema,1", "--ema,-0.5",
      "--ema,NaN", "--epochs,0", "--epochs,-3", "--patience,0", "--patience,-1", "--warmup,-1",
      "--max-bad-rows,-1", "--embedding-decay,-1", "--shuffle-window,0", "--shuffle-window,-4",
      "--feed-threads,0", "--feed-threads,100000"})
  void anInvalidOptionValueExitsTwoNamingIt(String option, String value, @TempDir Path dir) throws Exception {
    VerifyCommandTest.Result r = train(dir, option, value);
    refused(r, 2, dir, option);
    assertThat(r.out()).doesNotContain("data:");
  }

  @Test
  void aSchemaThatIsADirectoryOrATruncatedGzipExitsTwoNamingIt(@TempDir Path dir) throws Exception {
    List<String> args = smallRun(dir);
    args.set(args.indexOf("--schema") + 1, dir.toString());
    refused(VerifyCommandTest.run(args.toArray(String[]::new)), 2, dir, "--schema", "is a directory");

    Path gz = dir.resolve("train.csv.gz");
    try (var out = new GZIPOutputStream(Files.newOutputStream(gz))) {
      out.write(Files.readAllBytes(dir.resolve("train.csv")));
    }
    byte[] bytes = Files.readAllBytes(gz);
    Files.write(gz, java.util.Arrays.copyOf(bytes, bytes.length - 20));
    args = smallRun(dir);
    args.set(args.indexOf("--train") + 1, "train.csv.gz");
    refused(VerifyCommandTest.run(args.toArray(String[]::new)), 2, dir, gz.toString(), "truncated");
  }

  @Test
  void aHeaderOnlyTrainingFilePublishesNothing(@TempDir Path dir) throws Exception {
    smallRun(dir);
    Files.writeString(dir.resolve("empty.csv"), "user,item,hour,price,clicked\n");
    List<String> args = smallRun(dir, "--registry", dir.resolve("registry").toString(), "--name", "ctr");
    args.set(args.indexOf("--train") + 1, "empty.csv");
    VerifyCommandTest.Result r = VerifyCommandTest.run(args.toArray(String[]::new));
    refused(r, 2, dir, "no training examples in empty.csv");
    assertThat(ModelRegistry.open(dir.resolve("registry")).latest("ctr")).isEmpty();
  }

  @Test
  void validationWithoutPositivesWritesNothingAndExitsOne(@TempDir Path dir) throws Exception {
    smallRun(dir);
    List<String> lines = new ArrayList<>(Files.readAllLines(dir.resolve("valid.csv")));
    lines.replaceAll(l -> l.endsWith(",1") ? l.substring(0, l.length() - 1) + "0" : l);
    Files.write(dir.resolve("valid.csv"), lines);
    refused(train(dir), 1, dir, "validation AUC is undefined for every task", "click: no positive labels in 300");
  }

  @Test
  void aTaskWithoutPositivesIsReportedAndTheOthersStillSelectTheBestEpoch(@TempDir Path dir) throws Exception {
    smallRun(dir);
    writeCsv(dir.resolve("train.csv"), 4000, 5, null);
    writeCsv(dir.resolve("valid.csv"), 1000, 6, null);
    Files.writeString(dir.resolve("schema.yaml"), SCHEMA.replace("tasks:\n", "tasks:\n  - {name: buy, column: bought}\n"));
    for (String f : List.of("train.csv", "valid.csv")) {
      List<String> lines = new ArrayList<>(Files.readAllLines(dir.resolve(f)));
      lines.replaceAll(l -> l + (l.startsWith("user,") ? ",bought" : ",0"));
      Files.write(dir.resolve(f), lines);
    }
    Path report = dir.resolve("report.json");
    VerifyCommandTest.Result r = train(dir, "--epochs", "6", "--token-dim", "8", "--report-json", report.toString());
    assertThat(r.exit()).as(r.out() + r.err()).isZero();
    assertThat(r.out()).contains("undefined: buy: no positive labels in 1000 examples");
    JsonNode json = new ObjectMapper().readTree(report.toFile());
    assertThat(json.at("/valid/buy/auc").isNull()).as(json.toString()).isTrue();
    assertThat(json.at("/valid/buy/auc_undefined").asText()).isEqualTo("no positive labels in 1000 examples");
    assertThat(json.at("/valid/click/auc").isNumber()).isTrue();
    assertThat(json.at("/best_epoch").asInt()).isPositive();
  }

  @ParameterizedTest
  @CsvSource({"1e20", "1e6"})
  void aDivergingRunWritesNothingAndExitsOne(String lr, @TempDir Path dir) throws Exception {
    refused(train(dir, "--lr", lr), 1, dir, "training diverged in epoch");
  }

  @Test
  void everyOutputIsCheckedBeforeTraining(@TempDir Path dir) throws Exception {
    Files.writeString(dir.resolve("a-file"), "x");
    String[][] cases = {
        {"--out", dir.resolve("no/such/dir/m.safetensors").toString()},
        {"--out", dir.toString()},
        {"--registry", dir.resolve("a-file").toString(), "--name", "ctr"},
        {"--registry", dir.resolve("a-file/sub").toString(), "--name", "ctr"},
        {"--registry", dir.resolve("registry").toString(), "--name", "a/b"},
        {"--registry", dir.resolve("registry").toString(), "--name", ".."},
        {"--registry", dir.resolve("registry").toString(), "--name", "../up"},
        {"--report-json", dir.toString()},
        {"--checkpoint-dir", dir.resolve("a-file").toString()},
        {"--cache-dir", dir.resolve("a-file").toString()}};
    for (String[] c : cases) {
      VerifyCommandTest.Result r = train(dir, c);
      refused(r, 2, dir, c[c.length - 1].equals("ctr") ? c[0] : c[c.length - 2]);
      assertThat(r.out()).as(String.join(" ", c)).doesNotContain("data:");
    }
  }

  @Test
  void skippedBadRowsAndDeadFieldsAreReported(@TempDir Path dir) throws Exception {
    smallRun(dir);
    writeCsv(dir.resolve("train.csv"), 600, 5, "u1,i2,3,not-a-price,1");
    Files.writeString(dir.resolve("schema.yaml"), SCHEMA + "  - {name: region, kind: categorical, side: user}\n");
    Path report = dir.resolve("report.json");
    VerifyCommandTest.Result r = train(dir, "--max-bad-rows", "1", "--report-json", report.toString());
    assertThat(r.exit()).as(r.out() + r.err()).isZero();
    assertThat(r.out()).contains("skipped 1 bad train rows; first at " + dir.resolve("train.csv") + ":303")
        .contains("warning: field 'region': column 'region' has no value in any training row");
    JsonNode json = new ObjectMapper().readTree(report.toFile());
    assertThat(json.at("/bad_rows/train/skipped").asLong()).isEqualTo(1);
    assertThat(json.at("/bad_rows/train/first/0").asText()).contains("train.csv:303").contains("price");
    assertThat(json.at("/bad_rows/valid/skipped").asLong()).isZero();
    assertThat(json.at("/warnings/0").asText()).contains("region");
  }

  @Test
  void aRunThatReusesTheCacheReportsTheSameBadRowsAndWarnings(@TempDir Path dir) throws Exception {
    smallRun(dir);
    writeCsv(dir.resolve("train.csv"), 600, 5, "u1,i2,3,not-a-price,1");
    Files.writeString(dir.resolve("schema.yaml"), SCHEMA + "  - {name: region, kind: categorical, side: user}\n");
    String cache = dir.resolve("cache").toString();
    for (int run = 0; run < 2; run++) {
      Path report = dir.resolve("report-" + run + ".json");
      VerifyCommandTest.Result r = train(dir, "--max-bad-rows", "1", "--cache-dir", cache, "--report-json",
          report.toString());
      assertThat(r.exit()).as(r.out() + r.err()).isZero();
      if (run == 1) {
        assertThat(r.out() + r.err()).contains("from the cache");
      }
      assertThat(r.out()).contains("skipped 1 bad train rows; first at " + dir.resolve("train.csv") + ":303")
          .contains("warning: field 'region': column 'region' has no value in any training row");
      JsonNode json = new ObjectMapper().readTree(report.toFile());
      assertThat(json.at("/bad_rows/train/skipped").asLong()).isEqualTo(1);
      assertThat(json.at("/bad_rows/train/first/0").asText()).contains("train.csv:303").contains("price");
      assertThat(json.at("/bad_rows/valid/skipped").asLong()).isZero();
      assertThat(json.at("/warnings/0").asText()).contains("region");
      Files.delete(dir.resolve("m.safetensors"));
    }
  }

  @Test
  void aBatchLargerThanTheDataIsClampedToIt(@TempDir Path dir) throws Exception {
    List<String> args = smallRun(dir);
    args.set(args.indexOf("--batch-size") + 1, "50000000");
    VerifyCommandTest.Result r = VerifyCommandTest.run(args.toArray(String[]::new));
    // Only the first epochs' single step: it need not learn, but it must not allocate 50 M rows of workspace.
    assertThat(r.err()).doesNotContain("OutOfMemoryError").doesNotContain("\tat ");
    assertThat(r.exit()).as(r.out() + r.err()).isIn(0, 1);
  }

  @Test
  void resumingWithAChangedOptionIsRefusedNamingIt(@TempDir Path dir) throws Exception {
    String checkpoints = dir.resolve("ckpt").toString();
    smallRun(dir);
    // Enough rows that the first epochs beat the initial model whatever the shuffled order.
    writeCsv(dir.resolve("train.csv"), 4000, 5, null);
    writeCsv(dir.resolve("valid.csv"), 1000, 6, null);
    VerifyCommandTest.Result first = train(dir, "--epochs", "3", "--checkpoint-dir", checkpoints);
    assertThat(first.exit()).as(first.out() + first.err()).isZero();
    Files.delete(dir.resolve("m.safetensors"));
    refused(train(dir, "--epochs", "4", "--checkpoint-dir", checkpoints, "--lr", "1e-3"), 2, dir,
        "lr (checkpoint 0.003, this run 0.001)");
    refused(train(dir, "--epochs", "4", "--checkpoint-dir", checkpoints, "--seed", "7"), 2, dir,
        "seed (checkpoint 1, this run 7)");
    refused(train(dir, "--epochs", "4", "--checkpoint-dir", checkpoints, "--shuffle-window", "7"), 2, dir,
        "shuffle_window (checkpoint 1048576, this run 7)");
    // Where the cache lives changes no result: resuming with another --cache-dir is allowed (below).
    VerifyCommandTest.Result resumed = train(dir, "--epochs", "4", "--checkpoint-dir", checkpoints, "--cache-dir",
        dir.resolve("another-cache").toString());
    assertThat(resumed.exit()).as(resumed.out() + resumed.err()).isZero();
    assertThat(resumed.out()).contains("resumed from");
  }
}
