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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

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
      writeCsv(dir.resolve("train.csv"), 400, 3, "u1,i2,3," + c[1] + ",1");
      writeCsv(dir.resolve("valid.csv"), 200, 4, null);
      Path out = dir.resolve("m.safetensors");
      Files.deleteIfExists(out);
      String[] args = {"train", "--schema", dir.resolve("schema.yaml").toString(), "--data-dir", dir.toString(),
          "--train", "train.csv", "--valid", "valid.csv", "--token-dim", "4", "--epochs", "1", "--out", out.toString()};

      VerifyCommandTest.Result stopped = VerifyCommandTest.run(args);
      assertThat(stopped.exit()).as(c[1] + ": " + stopped.err()).isEqualTo(2);
      assertThat(stopped.err()).contains("train.csv:203: field 'price': column 'price' is ")
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
}
