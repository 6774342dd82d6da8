package io.hiformer.ops;

import static io.hiformer.ops.VerifyCommandTest.run;
import static org.assertj.core.api.Assertions.assertThat;

import io.hiformer.features.FeatureSchema;
import io.hiformer.features.RawRecord;
import io.hiformer.features.Transforms;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.ModelRegistry;
import io.hiformer.model.Parameters;
import io.hiformer.ops.VerifyCommandTest.Result;
import io.hiformer.training.SyntheticCtr;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code hiformer models ...} in-process on a registry with two versions of "ranker" and one of "other". */
class ModelsCommandTest {
  @TempDir
  Path root;

  ModelRegistry registry;

  Transforms transforms;

  @BeforeEach
  void publish() throws Exception {
    registry = ModelRegistry.open(root);
    FeatureSchema schema = FeatureSchema.parse("""
        tasks: [{name: click}]
        fields:
          - {name: user_id, kind: categorical, side: user}
          - {name: item_id, kind: categorical, side: item}
        """);
    List<RawRecord> records = new ArrayList<>();
    for (int i = 0; i < 300; i++) {
      records.add(RawRecord.of(Map.of("user_id", "u" + i % 7, "item_id", "item" + i, "click", "" + i % 2)));
    }
    transforms = Transforms.fit(schema, records);
    ModelConfig config = new ModelConfig("quickstart", 8, 2, 1, transforms.tasks(), 2, 2, 2, List.of(8), 0, false,
        transforms.modelFields());
    for (int seed = 1; seed <= 2; seed++) {
      registry.publish("ranker", Parameters.initialize(config, seed), Map.of("valid_auc", "0.7" + seed,
          Transforms.METADATA_KEY, transforms.toJson()),
          "{\"data\": \"clicks-2024-06-0" + seed + ".csv\", \"commit\": \"c0ffee" + seed + "\"}");
    }
    registry.publish("other", Parameters.initialize(SyntheticCtr.config(), 9), Map.of(), "{}");
    registry.setAlias("ranker", "production", 1);
  }

  @Test
  void refusesToPromoteAVersionARankerCannotServe() throws Exception {
    ModelConfig config = registry.verify(registry.version("ranker", 1)).parameters().config();
    // v3: no transforms; v4: transforms that are not JSON; v5: transforms of other fields.
    registry.publish("ranker", Parameters.initialize(config, 3), Map.of(), "{}");
    registry.publish("ranker", Parameters.initialize(config, 4), Map.of(Transforms.METADATA_KEY, "{nope"), "{}");
    registry.publish("ranker", Parameters.initialize(config, 5), Map.of(Transforms.METADATA_KEY,
        transforms.toJson().replace("\"item_id\"", "\"product_id\"")), "{}");
    assertError(models("promote", "--model", "ranker", "--version", "3"), "no 'transforms' metadata");
    assertError(models("promote", "--model", "ranker", "--version", "4"), "transforms: not JSON");
    assertError(models("promote", "--model", "ranker", "--version", "5"), "transforms");
    assertThat(registry.aliases("ranker")).containsOnly(Map.entry("production", 1L));
  }

  @Test
  void showSummarisesVocabulariesUnlessFull() {
    Result summary = models("show", "--model", "ranker");
    assertThat(summary.exit()).as(summary.err()).isZero();
    assertThat(summary.out()).contains("field    item_id: categorical, item, vocabulary 300: item", ", ...",
        "field    user_id: categorical, user, vocabulary 7", "--full for all").doesNotContain("item299");
    assertThat(summary.out().length()).isLessThan(4000);

    Result full = models("show", "--model", "ranker", "--full");
    assertThat(full.exit()).as(full.err()).isZero();
    assertThat(full.out()).contains("item299", "\"vocabulary\"");
  }

  @Test
  void showSummarisesAnOpenVocabulary() throws Exception {
    FeatureSchema schema = FeatureSchema.parse("""
        tasks: [{name: click}]
        fields:
          - {name: item_id, kind: categorical, side: item, open: true, max_vocabulary: 50, ttl: 100}
        """);
    Transforms open = Transforms.fit(schema, List.of(RawRecord.of(Map.of("item_id", "a", "click", "1")),
        RawRecord.of(Map.of("item_id", "b", "click", "0"))));
    ModelConfig config = new ModelConfig("open", 8, 2, 1, open.tasks(), 2, 2, 2, List.of(8), 0, false,
        open.modelFields());
    registry.publish("open", Parameters.initialize(config, 1), Map.of(Transforms.METADATA_KEY, open.toJson()), "{}");
    Result summary = models("show", "--model", "open");
    assertThat(summary.exit()).as(summary.err()).isZero();
    assertThat(summary.out()).contains("field    item_id: categorical, item, open vocabulary 2 of at most 50 ids"
        + " (0 admitted, 0 expired, 0 refused at the maximum, over 0 examples): a, b");
  }

  @Test
  void listsModelsThenOneModelsVersions() throws Exception {
    Result all = models("list");
    assertThat(all.exit()).as(all.err()).isZero();
    assertThat(all.out()).containsPattern("other\\s+versions 1\\s+latest 1\\s+aliases -")
        .containsPattern("ranker\\s+versions 2\\s+latest 2\\s+aliases production=1");

    Result one = models("list", "--model", "ranker");
    assertThat(one.exit()).as(one.err()).isZero();
    String sha1 = registry.version("ranker", 1).sha256().substring(0, 12);
    assertThat(one.out()).contains("VERSION").containsPattern("(?m)^1 .*" + sha1 + "\\s+production$")
        .containsPattern("(?m)^2 .*\\d+\\s+\\p{XDigit}{12}\\s*$");
  }

  @Test
  void showsLatestOrAnAliasWithHashConfigAndLineage() throws Exception {
    Result latest = models("show", "--model", "ranker");
    assertThat(latest.exit()).as(latest.err()).isZero();
    assertThat(latest.out()).contains("version    2", "aliases    -", "sha256     " + registry.version("ranker", 2).sha256(),
        "verified", "quickstart: token_dim 8", "valid_auc = 0.72", "c0ffee2").containsPattern("size       \\d+ bytes");

    Result production = models("show", "--model", "ranker", "--version", "production");
    assertThat(production.exit()).as(production.err()).isZero();
    assertThat(production.out()).contains("version    1", "aliases    production", "clicks-2024-06-01.csv");
  }

  @Test
  void promotesThenRollsBack() throws Exception {
    Result promote = models("promote", "--model", "ranker", "--version", "2");
    assertThat(promote.exit()).as(promote.err()).isZero();
    assertThat(promote.out()).contains("ranker/production: 1 -> 2");
    assertThat(registry.aliases("ranker")).containsEntry("production", 2L);

    Result candidate = models("promote", "--model", "ranker", "--version", "latest", "--alias", "candidate");
    assertThat(candidate.out()).contains("ranker/candidate: (unset) -> 2");

    Result rollback = models("rollback", "--model", "ranker");
    assertThat(rollback.exit()).as(rollback.err()).isZero();
    assertThat(rollback.out()).contains("ranker/production: 2 -> 1");
    assertThat(registry.aliases("ranker")).containsEntry("production", 1L).containsEntry("candidate", 2L);

    Result again = models("rollback", "--model", "ranker");
    assertThat(again.exit()).isEqualTo(2);
    assertThat(again.err()).contains("error:", "no earlier target");
  }

  @Test
  void unknownModelVersionOrAliasExitsTwoWithAClearMessage() {
    assertError(models("list", "--model", "nope"), "no model 'nope'", "models: other, ranker");
    assertError(models("show", "--model", "nope"), "no model 'nope'");
    assertError(models("show", "--model", "ranker", "--version", "7"), "has no version or alias '7'", "versions: [1, 2]");
    assertError(models("show", "--model", "ranker", "--version", "staging"), "has no version or alias 'staging'",
        "aliases: {production=1}");
    assertError(models("promote", "--model", "ranker", "--version", "3"), "has no version or alias '3'");
    assertError(models("promote", "--model", "ranker", "--version", "2", "--alias", "Prod"), "invalid alias 'Prod'");
    assertError(models("rollback", "--model", "ranker", "--alias", "candidate"), "has no alias 'candidate'");
    assertError(models("show", "--model", "../x"), "invalid model name");
    assertError(run("models", "list", "--registry", root.resolve("missing").toString()), "no registry directory");
  }

  @Test
  void refusesToPromoteOrShowACorruptedVersion() throws Exception {
    try (RandomAccessFile f = new RandomAccessFile(registry.version("ranker", 2).file().toFile(), "rw")) {
      f.seek(f.length() - 1);
      f.write(f.read() ^ 1);
    }
    assertError(models("promote", "--model", "ranker", "--version", "2"), "SHA-256");
    assertThat(registry.aliases("ranker")).containsEntry("production", 1L);
    assertError(models("show", "--model", "ranker", "--version", "2"), "SHA-256");
  }

  @Test
  void everyModelsCommandHasHelp() {
    for (String command : new String[] {"list", "show", "promote", "rollback"}) {
      Result r = run("models", command, "--help");
      assertThat(r.exit()).isZero();
      assertThat(r.out()).contains("Usage: hiformer models " + command, "--registry=DIR");
    }
    assertThat(run("models", "--help").out()).contains("list", "show", "promote", "rollback");
    assertThat(run("--help").out()).contains("models");
  }

  private Result models(String subcommand, String... args) {
    String[] all = new String[args.length + 4];
    all[0] = "models";
    all[1] = subcommand;
    all[2] = "--registry";
    all[3] = root.toString();
    System.arraycopy(args, 0, all, 4, args.length);
    return run(all);
  }

  private static void assertError(Result r, String... fragments) {
    assertThat(r.exit()).as(r.out()).isEqualTo(2);
    assertThat(r.err()).startsWith("error: ").contains(fragments);
  }
}
