package io.hiformer.ops;

import static org.assertj.core.api.Assertions.assertThat;

import io.hiformer.features.BadRows;
import io.hiformer.features.FeatureSchema;
import io.hiformer.features.Featurizer;
import io.hiformer.features.RawRecord;
import io.hiformer.features.Transforms;
import io.hiformer.features.data.RecordFiles;
import io.hiformer.features.ranklog.RankLogEntries;
import io.hiformer.localkafka.KafkaBroker;
import io.hiformer.model.Batch;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.ModelFile;
import io.hiformer.model.ModelRegistry;
import io.hiformer.ops.VerifyCommandTest.Result;
import io.hiformer.proto.TrainingExample;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code train --follow} as the Deployment runs it: against a real broker and registry, a gate
 * that fails is published but not promoted, counted by reason on /metrics, and every
 * {@code hiformer_follow_*} metric the alert rules and the dashboard use is exported.
 */
@Timeout(value = 300, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class TrainFollowCommandTest {

  @Test
  void publishesGatesAndExportsTheMetricsTheAlertsUse(@TempDir Path dir) throws Exception {
    // The item field is open (it reads the examples' raw item_id): the trainer grows it and exports its figures.
    String schema = TrainCommandTest.SCHEMA.replace("{name: item, kind: categorical, side: item}",
        "{name: item, column: item_id, kind: categorical, side: item, open: true, min_count: 2, max_vocabulary: 20}");
    Files.writeString(dir.resolve("schema.yaml"), schema);
    for (String file : List.of("train.csv", "valid.csv")) {
      TrainCommandTest.writeCsv(dir.resolve(file), file.equals("train.csv") ? 2000 : 600,
          file.equals("train.csv") ? 1 : 2, null);
      Files.writeString(dir.resolve(file), Files.readString(dir.resolve(file)).replaceFirst("user,item,", "user,item_id,"));
    }
    Path registry = dir.resolve("registry");
    Result first = VerifyCommandTest.run("train", "--schema", dir.resolve("schema.yaml").toString(),
        "--data-dir", dir.toString(), "--train", "train.csv", "--valid", "valid.csv", "--token-dim", "8",
        "--epochs", "2", "--lr", "3e-3", "--batch-size", "128", "--registry", registry.toString(), "--name", "ctr");
    assertThat(first.exit()).as(first.out() + first.err()).isZero();
    assertThat(VerifyCommandTest.run("models", "promote", "--registry", registry.toString(), "--model", "ctr",
        "--version", "1").exit()).isZero();

    try (KafkaBroker kafka = KafkaBroker.forTests();
        var producer = new KafkaProducer<>(Map.<String, Object>of("bootstrap.servers", kafka.bootstrapServers()),
            new StringSerializer(), new ByteArraySerializer())) {
      // What v1 served: the CSV rows through v1's own transforms, as the joiner would emit them.
      ModelRegistry r = ModelRegistry.open(registry);
      ModelFile.Loaded v1 = ModelFile.load(r.version("ctr", 1).file());
      ModelConfig config = v1.parameters().config();
      Featurizer featurizer = new Featurizer(Transforms.fromJson(v1.metadata().get(Transforms.METADATA_KEY)));
      int served = 0;
      for (String file : List.of("train.csv", "valid.csv")) {
        for (RawRecord row : RecordFiles.open(dir.resolve(file), FeatureSchema.parse(schema), BadRows.none())) {
          Batch batch = new Batch(config, 1);
          featurizer.add(row, batch);
          producer.send(new ProducerRecord<>("examples", "r" + served, TrainingExample.newBuilder()
              .setInputs(RankLogEntries.inputs(config, batch, 0)).addLabels(batch.label(0, 0)).addLabelMask(true)
              .setItemId(row.value("item_id")).setModelName("ctr").setModelVersion(1).setRequestId("r" + served++).build()
              .toByteArray()));
        }
      }
      producer.flush();

      CommandLine commandLine = HiformerCommand.commandLine();
      TrainCommand follow = commandLine.getSubcommands().get("train").getCommand();
      String[] args = {"train", "--follow", "--examples-topic", "examples", "--bootstrap-servers", kafka.bootstrapServers(),
          "--registry", registry.toString(), "--name", "ctr", "--checkpoint-dir", dir.resolve("ckpt").toString(),
          "--publish-every", "1000", "--checkpoint-every", "200ms", "--holdout", "0.1", "--require", "auc>=+1",
          "--batch-size", "64", "--lr", "3e-3", "--threads", "1", "--gate-bootstrap", "50", "--metrics-port", "0",
          "--metrics-bind", "127.0.0.1"};
      CompletableFuture<Result> run = CompletableFuture.supplyAsync(() ->
          VerifyCommandTest.run(() -> commandLine, args));
      String metrics = "";
      try (HttpClient http = HttpClient.newHttpClient()) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (!metrics.contains("hiformer_follow_gates_total{reason=\"auc>=+1\",result=\"fail\"} 2.0")
            && !run.isDone() && System.nanoTime() < deadline) {
          Thread.sleep(200);
          if (follow.boundMetricsPort > 0) {
            metrics = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + follow.boundMetricsPort
                + "/metrics")).build(), HttpResponse.BodyHandlers.ofString()).body();
          }
        }
      }
      follow.stopFollow.set(true);
      Result result = run.get(60, TimeUnit.SECONDS);
      assertThat(result.exit()).as(result.out() + result.err()).isZero();
      assertThat(metrics).as(result.out()).contains("hiformer_follow_gates_total{reason=\"auc>=+1\",result=\"fail\"} 2.0",
          "hiformer_follow_versions_published_total 2.0", "hiformer_follow_versions_promoted_total 0.0",
          "hiformer_follow_examples_total{result=\"trained\"}", "hiformer_follow_lag_records",
          "hiformer_follow_running 1.0", "hiformer_follow_vocabulary_size{field=\"item\"} 9.0",
          "hiformer_follow_vocabulary_admitted_total{field=\"item\"}",
          "hiformer_follow_vocabulary_expired_total{field=\"item\"}",
          "hiformer_follow_vocabulary_refused_total{field=\"item\"}");
      // Published and announced, never promoted; the reason is in the log.
      assertThat(r.versions("ctr")).hasSizeGreaterThanOrEqualTo(3);
      assertThat(r.aliases("ctr")).containsEntry("production", 1L);
      assertThat(result.out()).contains("ctr v2 not promoted to production: gate auc>=+1 for click:",
          "stopped: ", "examples trained, ");

      Set<String> used = DeploymentFilesTest.metricsIn(Files.readString(
          DeploymentFilesTest.DEPLOY.resolve("prometheus/alerts.yaml")));
      used.addAll(DeploymentFilesTest.metricsIn(Files.readString(
          DeploymentFilesTest.DEPLOY.resolve("grafana/hiformer-dashboard.json"))));
      used.removeIf(name -> !name.startsWith("hiformer_follow_"));
      assertThat(used).isNotEmpty();
      Set<String> exported = DeploymentFilesTest.metricsIn(metrics);
      assertThat(exported).containsAll(used);

      // Bad options: one line naming what is wrong, exit 2, before anything runs.
      Result noCheckpoints = VerifyCommandTest.run("train", "--follow", "--examples-topic", "examples",
          "--bootstrap-servers", kafka.bootstrapServers(), "--registry", registry.toString(), "--name", "ctr");
      assertThat(noCheckpoints.exit()).isEqualTo(2);
      assertThat(noCheckpoints.err()).contains("--follow needs", "--checkpoint-dir");
      Result badEvery = VerifyCommandTest.run("train", "--follow", "--examples-topic", "examples",
          "--bootstrap-servers", kafka.bootstrapServers(), "--registry", registry.toString(), "--name", "ctr",
          "--checkpoint-dir", dir.resolve("c2").toString(), "--publish-every", "soon");
      assertThat(badEvery.exit()).isEqualTo(2);
      assertThat(badEvery.err()).contains("--publish-every 'soon' is neither a time (10m, 1h) nor an example count");
      Result badGate = VerifyCommandTest.run("train", "--follow", "--examples-topic", "examples",
          "--bootstrap-servers", kafka.bootstrapServers(), "--registry", registry.toString(), "--name", "ctr",
          "--checkpoint-dir", dir.resolve("c3").toString(), "--require", "ctr:auc>=0");
      assertThat(badGate.exit()).isEqualTo(2);
      assertThat(badGate.err()).contains("no task 'ctr'");
    }
  }
}
