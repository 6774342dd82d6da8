package io.hiformer.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * On the Frappe test split, {@code evaluate} reports for a {@code hiformer} and a {@code vanilla}
 * version exactly the test AUC and log loss {@code train} reported for them. A fast configuration
 * (one epoch of small models, trained on the validation file) keeps it to seconds; the full-size
 * comparison is in training/README.md. Skipped where {@code shared/data/frappe_x1} is absent: the
 * data may not be redistributed, so it is never part of the project.
 */
class EvaluateFrappeTest {

  static Path frappeDir() {
    String override = System.getProperty("frappe.dir");
    if (override != null) {
      Path p = Path.of(override);
      return Files.isRegularFile(p.resolve("test.csv")) ? p : null;
    }
    for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
      Path candidate = p.resolve("shared/data/frappe_x1");
      if (Files.isRegularFile(candidate.resolve("test.csv"))) {
        return candidate;
      }
    }
    return null;
  }

  @Test
  void reportsTheTestAucAndLoglossTrainReportedForBothVariants(@TempDir Path dir) throws Exception {
    Path data = frappeDir();
    assumeTrue(data != null, "Frappe data not found (no shared/data/frappe_x1 above " + Path.of("").toAbsolutePath()
        + ", or -Dfrappe.dir without test.csv): skipping the Frappe evaluation test");
    Path schema = dir.resolve("frappe.yaml");
    try (InputStream in = EvaluateFrappeTest.class.getResourceAsStream("/io/hiformer/training/frappe.yaml")) {
      Files.write(schema, in.readAllBytes());
    }
    Path registry = dir.resolve("registry");
    ObjectMapper json = new ObjectMapper();
    JsonNode[] trained = new JsonNode[2];
    String[] variants = {"hiformer", "vanilla"};
    for (int v = 0; v < 2; v++) {
      Path report = dir.resolve(variants[v] + ".json");
      VerifyCommandTest.Result r = VerifyCommandTest.run("train", "--schema", schema.toString(), "--data-dir",
          data.toString(), "--train", "valid.csv", "--valid", "test.csv", "--test", "test.csv", "--variant", variants[v],
          "--token-dim", "8", "--layers", "1", "--tower", "16", "--epochs", "1", "--batch-size", "2048", "--lr", "3e-3",
          "--kernels", "scalar", "--threads", "2", "--registry", registry.toString(), "--name", "frappe",
          "--report-json", report.toString());
      assertThat(r.exit()).as(r.out() + r.err()).isZero();
      trained[v] = json.readTree(report.toFile());
    }

    Path out = dir.resolve("report");
    VerifyCommandTest.Result r = VerifyCommandTest.run("evaluate", "--registry", registry.toString(), "--model", "frappe",
        "--versions", "1,2", "--schema", schema.toString(), "--data-dir", data.toString(), "--data", "test.csv",
        "--out", out.toString(), "--slices", "country,category", "--kernels", "scalar", "--threads", "2",
        "--bootstrap", "200");
    assertThat(r.exit()).as(r.out() + r.err()).isZero();

    JsonNode summary = json.readTree(out.resolve("summary.json").toFile());
    assertThat(summary.at("/rows").asLong()).isEqualTo(28_860);
    assertThat(summary.at("/group_by").asText()).isEqualTo("user");
    for (int v = 0; v < 2; v++) {
      JsonNode got = summary.at("/tasks/use/versions/v" + (v + 1));
      JsonNode want = trained[v].at("/test/use");
      assertThat(got.at("/auc").asDouble()).as(variants[v] + " AUC").isEqualTo(want.at("/auc").asDouble());
      assertThat(got.at("/logloss").asDouble()).as(variants[v] + " log loss")
          .isCloseTo(want.at("/logloss").asDouble(), within(1e-12));
      assertThat(got.at("/rows").asLong()).isEqualTo(want.at("/examples").asLong());
    }
    assertThat(summary.at("/versions/1/variant").asText()).isEqualTo("vanilla");
    // Joined item attributes slice like logged columns.
    assertThat(summary.at("/slices/category/values").size()).isGreaterThan(10);
    assertThat(List.of("better", "worse", "no significant difference"))
        .contains(summary.at("/tasks/use/deltas/v2/auc/verdict").asText());
  }
}
