package io.hiformer.ops;

import static io.hiformer.features.kafka.TopicReader.await;
import static io.hiformer.features.kafka.TopicReader.read;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.hiformer.features.BadRows;
import io.hiformer.features.FeatureSchema;
import io.hiformer.features.Featurizer;
import io.hiformer.features.RawRecord;
import io.hiformer.features.Transforms;
import io.hiformer.features.data.RecordFiles;
import io.hiformer.features.joiner.ExampleJoiner;
import io.hiformer.features.kafka.KafkaTopics;
import io.hiformer.features.ranklog.RankLogEntries;
import io.hiformer.localkafka.KafkaBroker;
import io.hiformer.model.Batch;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.ModelFile;
import io.hiformer.model.ModelRegistry;
import io.hiformer.ops.VerifyCommandTest.Result;
import io.hiformer.proto.LoggedCandidate;
import io.hiformer.proto.ModelAnnouncement;
import io.hiformer.proto.ModelInputs;
import io.hiformer.proto.Outcome;
import io.hiformer.proto.RankLogEntry;
import io.hiformer.proto.TaskScore;
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
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The commands that use Kafka (joiner, train from the examples topic, announcements), on one real broker. */
class StreamingCommandsTest {
  static KafkaBroker kafka;
  static KafkaProducer<String, byte[]> producer;

  @BeforeAll
  static void startKafka() {
    kafka = KafkaBroker.forTests();
    producer = new KafkaProducer<>(Map.of("bootstrap.servers", kafka.bootstrapServers()), new StringSerializer(),
        new ByteArraySerializer());
  }

  @AfterAll
  static void stopKafka() {
    producer.close();
    kafka.close();
  }

  static void send(String topic, String key, byte[] value) throws Exception {
    producer.send(new ProducerRecord<>(topic, key, value)).get();
  }

  static List<ModelAnnouncement> announcements(String topic, int n) {
    return read(kafka.bootstrapServers(), topic, n).stream().map(r -> {
      try {
        return ModelAnnouncement.parseFrom(r.value());
      } catch (Exception e) {
        throw new AssertionError(e);
      }
    }).toList();
  }

  static RankLogEntry served(String id, long time, String item) {
    return RankLogEntry.newBuilder().setRequestId(id).setUserId("u").setModelName("ctr").setModelVersion(1)
        .setArm("default").setServedTimeMs(time).setReturnedCount(1)
        .addCandidates(LoggedCandidate.newBuilder().setItemId(item).setPosition(0)
            .setInputs(ModelInputs.newBuilder().addCategoricalIds(3))
            .addTaskScores(TaskScore.newBuilder().setTask("click").setProbability(0.4f)))
        .build();
  }

  @Test
  void joinerRunsUntilStoppedAndMatchesTheRankLogsPartitions(@TempDir Path dir) throws Exception {
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", kafka.bootstrapServers()))) {
      KafkaTopics.ensure(admin, List.of(KafkaTopics.topic("cli.rank-log", 1)));
    }
    JoinerCommand joiner = new JoinerCommand();
    AtomicReference<ExampleJoiner> started = new AtomicReference<>();
    CountDownLatch running = new CountDownLatch(1);
    joiner.onStart = j -> {
      started.set(j);
      running.countDown();
    };
    AtomicInteger exit = new AtomicInteger(-1);
    Thread thread = new Thread(() -> exit.set(VerifyCommandTest.run(() -> new CommandLine(joiner),
        "--bootstrap-servers", kafka.bootstrapServers(), "--topic-prefix", "cli.", "--window", "1s", "--grace", "0s",
        "--application-id", "cli-joiner", "--state-dir", dir.toString(), "--metrics-port", "0",
        "--session-timeout", "8s", "--heartbeat-interval", "2s", "--standby-replicas", "0").exit()));
    thread.start();
    assertThat(running.await(60, TimeUnit.SECONDS)).isTrue();
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", kafka.bootstrapServers()))) {
      assertThat(KafkaTopics.partitions(admin, List.of("cli.outcomes", "cli.examples")))
          .as("as many partitions as the existing rank log").containsValues(1, 1);
    }
    long now = System.currentTimeMillis();
    send("cli.rank-log", "r1", served("r1", now, "a").toByteArray());
    send("cli.outcomes", "r1", Outcome.newBuilder().setRequestId("r1").setItemId("a").setTask("click").setValue(1f)
        .setEventTimeMs(now + 500).build().toByteArray());
    send("cli.rank-log", "r2", served("r2", now + 5_000, "b").toByteArray());
    var examples = read(kafka.bootstrapServers(), "cli.examples", 1);
    assertThat(examples).hasSize(1);
    TrainingExample e = TrainingExample.parseFrom(examples.getFirst().value());
    assertThat(e.getRequestId()).isEqualTo("r1");
    assertThat(e.getLabelsList()).containsExactly(1f);

    // Its counts and Kafka Streams' own metrics, as Prometheus scrapes them.
    String scrape;
    try (HttpClient http = HttpClient.newHttpClient()) {
      scrape = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + joiner.boundMetricsPort + "/metrics"))
          .build(), HttpResponse.BodyHandlers.ofString()).body();
      // The probes: alive, and ready while its streams run.
      for (String probe : new String[] {"/live", "/ready"}) {
        assertThat(http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + joiner.boundMetricsPort + probe))
            .build(), HttpResponse.BodyHandlers.discarding()).statusCode()).as(probe).isEqualTo(200);
      }
    }
    assertThat(scrape).contains("jvm_memory_used_bytes", "process_cpu_usage", "process_uptime_seconds");
    assertThat(scrape.lines()).contains("hiformer_joiner_requests_total 2.0", "hiformer_joiner_outcomes_joined_total 1.0",
        "hiformer_joiner_examples_total 1.0", "hiformer_joiner_positives_total 1.0",
        "hiformer_joiner_outcomes_waiting 0.0", "hiformer_joiner_running 1.0",
        "hiformer_joiner_dead_letters_total{reason=\"late\"} 0.0");
    assertThat(scrape.lines().filter(l -> l.startsWith("kafka_stream_"))).as("Kafka Streams metrics").isNotEmpty();
    Set<String> used = DeploymentFilesTest.metricsIn(
        Files.readString(DeploymentFilesTest.DEPLOY.resolve("prometheus/alerts.yaml"))
            + Files.readString(DeploymentFilesTest.DEPLOY.resolve("grafana/hiformer-dashboard.json")));
    used.removeIf(name -> !name.startsWith("hiformer_joiner_"));
    assertThat(used).isNotEmpty();
    assertThat(DeploymentFilesTest.metricsIn(scrape)).as("joiner metrics the alerts and dashboard use").containsAll(used);

    started.get().close();
    thread.join(60_000);
    assertThat(exit.get()).isZero();
  }

  @Test
  void serveLogsEveryAnsweredCallAndSwapsToAnnouncedVersions(@TempDir Path dir) throws Exception {
    FeatureSchema schema = FeatureSchema.parse("""
        tasks: [{name: click}]
        fields:
          - {name: user_id, kind: categorical, side: user}
          - {name: item_id, kind: categorical, side: item}
        """);
    List<RawRecord> records = new java.util.ArrayList<>();
    for (int i = 0; i < 6; i++) {
      records.add(RawRecord.of(Map.of("user_id", "u" + i % 2, "item_id", "i" + i % 3, "click", "" + i % 2)));
    }
    Transforms t = Transforms.fit(schema, records);
    ModelConfig config = new ModelConfig("tiny", 8, 2, 1, t.tasks(), 2, 2, 2, List.of(8), 0, false, t.modelFields());
    ModelRegistry registry = ModelRegistry.open(dir);
    registry.publish("tiny", io.hiformer.model.Parameters.initialize(config, 1),
        Map.of(Transforms.METADATA_KEY, t.toJson()), "{}");

    ServeCommand serve = new ServeCommand();
    AtomicReference<Long> before = new AtomicReference<>();
    AtomicReference<Long> after = new AtomicReference<>();
    serve.onStart = server -> {
      var channel = io.grpc.ManagedChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
      try {
        var ranker = io.hiformer.proto.RankerGrpc.newBlockingStub(channel);
        var request = io.hiformer.proto.RankRequest.newBuilder().setUserId("u0").setRequestId("call-1")
            .addCandidates(io.hiformer.proto.Candidate.newBuilder().setItemId("i1")).build();
        before.set(ranker.rank(request).getModelVersion());
        ModelRegistry.Version v2 = registry.publish("tiny", io.hiformer.model.Parameters.initialize(config, 2),
            Map.of(Transforms.METADATA_KEY, t.toJson()), "{}");
        try (var announcer = io.hiformer.features.announce.ModelAnnouncer.connect(kafka.bootstrapServers(),
            "cli3.models")) {
          announcer.announce(registry, v2);
        }
        await("v2 served", () -> ranker.rank(request).getModelVersion() == 2);
        after.set(ranker.rank(request).getModelVersion());
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      } finally {
        channel.shutdownNow();
        server.close();
      }
    };
    int exit = new CommandLine(serve).execute("--registry", dir.toString(), "--model", "tiny", "--port", "0",
        "--metrics-port", "0", "--threads", "1", "--registry-poll", "0", "--bootstrap-servers",
        kafka.bootstrapServers(), "--topic-prefix", "cli3.");
    assertThat(exit).isZero();
    assertThat(before.get()).isEqualTo(1);
    assertThat(after.get()).as("swapped by the announcement; polling is off").isEqualTo(2);
    var logged = read(kafka.bootstrapServers(), "cli3.rank-log", 3);
    assertThat(logged).as("every answered call, written before serve returned").hasSizeGreaterThanOrEqualTo(3);
    RankLogEntry first = RankLogEntry.parseFrom(logged.getFirst().value());
    assertThat(first.getRequestId()).isEqualTo("call-1");
    assertThat(first.getModelVersion()).isEqualTo(1);
    assertThat(RankLogEntry.parseFrom(logged.getLast().value()).getModelVersion()).isEqualTo(2);
  }

  @Test
  void serveRefusesAFeatureStoreDirectoryInUseWithOneLineAndExit2(@TempDir Path dir) throws Exception {
    ServeCommandTest.publishTinyModel(dir.resolve("registry"), "tiny");
    Path storeDir = dir.resolve("store");
    String[] common = {"serve", "--registry", dir.resolve("registry").toString(), "--model", "tiny", "--port", "0",
        "--metrics-port", "0", "--registry-poll", "0", "--bootstrap-servers", kafka.bootstrapServers(),
        "--topic-prefix", "cli5."};
    try (var held = io.hiformer.features.online.RocksDbFeatureStore.open(storeDir,
        io.hiformer.features.online.StoreSchema.of(List.of()), 1 << 20)) {
      Result r = VerifyCommandTest.run(concat(common, "--feature-store", "rocksdb", "--feature-store-dir",
          storeDir.toString()));
      assertThat(r.exit()).isEqualTo(2);
      assertThat(r.err().strip()).isEqualTo("error: feature store directory " + storeDir
          + " is in use by another process or store (its LOCK file is held)");
    }
    Result noDir = VerifyCommandTest.run(concat(common, "--feature-store", "rocksdb"));
    assertThat(noDir.exit()).isEqualTo(2);
    assertThat(noDir.err()).contains("--feature-store rocksdb needs --feature-store-dir DIR");
    Result unknown = VerifyCommandTest.run(concat(common, "--feature-store", "redis"));
    assertThat(unknown.exit()).isEqualTo(2);
    assertThat(unknown.err()).contains("--feature-store must be memory or rocksdb, got 'redis'");
  }

  private static String[] concat(String[] a, String... b) {
    String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  @Test
  void badJoinerOptionsAreNamed() {
    Result r = VerifyCommandTest.run("joiner", "--bootstrap-servers", kafka.bootstrapServers(), "--window", "0s");
    assertThat(r.exit()).isEqualTo(2);
    assertThat(r.err()).contains("window must be at least 1 ms");
    Result unit = VerifyCommandTest.run("joiner", "--bootstrap-servers", kafka.bootstrapServers(), "--grace", "5 min");
    assertThat(unit.exit()).isEqualTo(2);
    assertThat(unit.err()).contains("'5 min' is not a duration");
    Result heartbeat = VerifyCommandTest.run("joiner", "--bootstrap-servers", kafka.bootstrapServers(),
        "--session-timeout", "6s", "--heartbeat-interval", "3s");
    assertThat(heartbeat.exit()).isEqualTo(2);
    assertThat(heartbeat.err()).contains("the heartbeat interval must be positive and at most a third of the session"
        + " timeout, got PT3S for PT6S");
    Result waiting = VerifyCommandTest.run("joiner", "--bootstrap-servers", kafka.bootstrapServers(),
        "--max-waiting", "-1");
    assertThat(waiting.exit()).isEqualTo(2);
    assertThat(waiting.err()).contains("the most waiting outcomes must not be negative");
  }

  @Test
  void trainsFromTheExamplesTopicWarmStartedAndAnnouncesEachVersion(@TempDir Path dir) throws Exception {
    Files.writeString(dir.resolve("schema.yaml"), TrainCommandTest.SCHEMA);
    TrainCommandTest.writeCsv(dir.resolve("train.csv"), 2000, 1, null);
    TrainCommandTest.writeCsv(dir.resolve("valid.csv"), 600, 2, null);
    Path registry = dir.resolve("registry");
    Result first = VerifyCommandTest.run("train", "--schema", dir.resolve("schema.yaml").toString(),
        "--data-dir", dir.toString(), "--train", "train.csv", "--valid", "valid.csv", "--token-dim", "8",
        "--epochs", "2", "--lr", "3e-3", "--batch-size", "128", "--registry", registry.toString(), "--name", "ctr",
        "--bootstrap-servers", kafka.bootstrapServers(), "--topic-prefix", "cli2.",
        "--report-json", dir.resolve("first.json").toString());
    assertThat(first.exit()).as(first.out() + first.err()).isZero();
    assertThat(first.out()).contains("announced ctr v1 on cli2.models");

    // What v1 served: the CSV rows through v1's own transforms, as the joiner would emit them.
    ModelRegistry r = ModelRegistry.open(registry);
    ModelFile.Loaded v1 = ModelFile.load(r.version("ctr", 1).file());
    ModelConfig config = v1.parameters().config();
    Featurizer featurizer = new Featurizer(Transforms.fromJson(v1.metadata().get(Transforms.METADATA_KEY)));
    FeatureSchema schema = FeatureSchema.parse(TrainCommandTest.SCHEMA);
    int served = 0;
    for (String file : List.of("train.csv", "valid.csv")) {
      for (RawRecord row : RecordFiles.open(dir.resolve(file), schema, BadRows.none())) {
        Batch batch = new Batch(config, 1);
        featurizer.add(row, batch);
        producer.send(new ProducerRecord<>("cli2.examples", "r" + served, TrainingExample.newBuilder()
            .setInputs(RankLogEntries.inputs(config, batch, 0)).addLabels(batch.label(0, 0)).addLabelMask(true)
            .setModelName("ctr").setModelVersion(1).setRequestId("r" + served++).build().toByteArray()));
      }
    }
    producer.flush();

    Path report = dir.resolve("report.json");
    Result second = VerifyCommandTest.run("train", "--examples-topic", "cli2.examples", "--valid-from", "0:2000",
        "--bootstrap-servers", kafka.bootstrapServers(), "--topic-prefix", "cli2.", "--registry", registry.toString(),
        "--name", "ctr", "--base", "1", "--warm-start", "--epochs", "2", "--lr", "3e-3", "--batch-size", "128",
        "--report-json",
        report.toString());
    assertThat(second.exit()).as(second.out() + second.err()).isZero();
    assertThat(second.out()).contains("published ctr version 2", "announced ctr v2 on cli2.models");
    JsonNode json = new ObjectMapper().readTree(report.toFile());
    assertThat(json.at("/data/train/examples").asInt()).isEqualTo(2000);
    assertThat(json.at("/data/valid/examples").asInt()).isEqualTo(600);
    assertThat(json.at("/data/valid/from").asText()).isEqualTo("0:2000");
    double scratch = new ObjectMapper().readTree(dir.resolve("first.json").toFile()).at("/history/0/train_loss").asDouble();
    assertThat(json.at("/history/0/train_loss").asDouble()).as("warm-started first epoch's loss, from scratch %s",
        scratch).isLessThan(scratch);
    assertThat(new ObjectMapper().readTree(r.version("ctr", 2).lineageJson()).at("/base/version").asInt()).isEqualTo(1);
    assertThat(ModelFile.load(r.version("ctr", 2).file()).metadata().get(Transforms.METADATA_KEY))
        .isEqualTo(v1.metadata().get(Transforms.METADATA_KEY));
    assertThat(announcements("cli2.models", 2)).map(ModelAnnouncement::getVersion).containsExactly(1L, 2L);

    Result incomplete = VerifyCommandTest.run("train", "--examples-topic", "cli2.examples",
        "--bootstrap-servers", kafka.bootstrapServers(), "--registry", registry.toString(), "--name", "ctr");
    assertThat(incomplete.exit()).isEqualTo(2);
    assertThat(incomplete.err()).contains("--valid-from");
    Result mixed = VerifyCommandTest.run("train", "--examples-topic", "cli2.examples", "--train", "train.csv");
    assertThat(mixed.err()).contains("--examples-topic replaces --schema, --train, --valid and --test");

    Result promote = VerifyCommandTest.run("models", "promote", "--registry", registry.toString(), "--model", "ctr",
        "--version", "1", "--bootstrap-servers", kafka.bootstrapServers(), "--topic-prefix", "cli2.");
    assertThat(promote.exit()).as(promote.err()).isZero();
    assertThat(promote.out()).contains("announced ctr v1 [production] on cli2.models");
    Result rollback = VerifyCommandTest.run("models", "promote", "--registry", registry.toString(), "--model", "ctr",
        "--version", "2", "--bootstrap-servers", kafka.bootstrapServers(), "--topic-prefix", "cli2.");
    assertThat(rollback.exit()).isZero();
    Result back = VerifyCommandTest.run("models", "rollback", "--registry", registry.toString(), "--model", "ctr",
        "--bootstrap-servers", kafka.bootstrapServers(), "--topic-prefix", "cli2.");
    assertThat(back.out()).contains("ctr/production: 2 -> 1", "announced ctr v1 [production] on cli2.models");
    await("five announcements", () -> announcements("cli2.models", 5).size() == 5);
    assertThat(announcements("cli2.models", 5).getLast().getAliasesList()).containsExactly("production");
  }
}
