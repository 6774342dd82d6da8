package io.hiformer.ops;

import static io.hiformer.ops.VerifyCommandTest.run;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.hiformer.features.FeatureSchema;
import io.hiformer.features.RawRecord;
import io.hiformer.features.Transforms;
import io.hiformer.features.online.FeatureIngestor;
import io.hiformer.features.online.FeatureStore;
import io.hiformer.features.kafka.TopicNames;
import io.hiformer.features.online.StoreSchema;
import io.hiformer.localkafka.KafkaBroker;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.ModelRegistry;
import io.hiformer.model.Parameters;
import io.hiformer.ops.VerifyCommandTest.Result;
import io.hiformer.proto.Candidate;
import io.hiformer.proto.FeatureValue;
import io.hiformer.proto.RankRequest;
import io.hiformer.proto.RankResponse;
import io.hiformer.proto.RankerGrpc;
import io.hiformer.proto.StringList;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.config.ConfigResource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code hiformer features load} against a real broker, read back by a real ingestor. */
class FeaturesLoadCommandTest {
  private static final String SCHEMA = """
      tasks: [{name: click}]
      fields:
        - {name: user_id, kind: categorical, side: user}
        - {name: country, kind: categorical, side: user}
        - {name: age, kind: dense, side: user}
        - {name: item_id, kind: categorical, side: item}
        - {name: tags, kind: bag, side: item}
        - {name: price, kind: dense, side: item}
      """;
  private static KafkaBroker kafka;

  @TempDir
  Path dir;

  @BeforeAll
  static void startBroker() {
    kafka = KafkaBroker.forTests();
  }

  @AfterAll
  static void stopBroker() {
    kafka.close();
  }

  @Test
  void loadsUsersAndItemsIntoCompactedTopicsThatAnIngestorReads() throws Exception {
    Path schema = Files.writeString(dir.resolve("schema.yaml"), SCHEMA);
    Path users = Files.writeString(dir.resolve("users.csv"), """
        user_id,country,age,unused
        u1,de,31,x
        u2,fr,,y
        u1,at,32,z
        """);
    Path items = Files.writeString(dir.resolve("items.tsv"), "item_id\ttags\tprice\tts\n"
        + "i1\ta|b\t9.5\t1700000000000\n"
        + "i2\tc\t1\t2026-05-01T12:00:00Z\n");

    Result u = run("features", "load", "--schema", schema.toString(), "--entity", "user", "--file", users.toString(),
        "--bootstrap-servers", kafka.bootstrapServers(), "--topic-prefix", "load.", "--partitions", "2");
    assertThat(u.exit()).as(u.err()).isZero();
    assertThat(u.out()).contains("loading user features [country, age] from " + users)
        .contains("published 3 user updates to load.features.user");
    Result i = run("features", "load", "--schema", schema.toString(), "--entity", "item", "--file", items.toString(),
        "--bootstrap-servers", kafka.bootstrapServers(), "--topic-prefix", "load.", "--event-time-column", "ts");
    assertThat(i.exit()).as(i.err()).isZero();
    assertThat(i.out()).contains("published 2 item updates");

    try (Admin admin = Admin.create(Map.of("bootstrap.servers", kafka.bootstrapServers()))) {
      for (String name : List.of("load.features.user", "load.features.item")) {
        ConfigResource topic = new ConfigResource(ConfigResource.Type.TOPIC, name);
        assertThat(admin.describeConfigs(List.of(topic)).all().get().get(topic).get("cleanup.policy").value())
            .as(name).isEqualTo("compact");
      }
      assertThat(admin.describeTopics(List.of("load.features.user")).allTopicNames().get().get("load.features.user")
          .partitions()).hasSize(2);
      assertThat(admin.listTopics().names().get()).contains("load.features.dlq");
    }
    FeatureStore store = new FeatureStore(StoreSchema.of(FeatureSchema.parse(SCHEMA).fields()), 100);
    try (FeatureIngestor ingestor = FeatureIngestor.start(
        FeatureIngestor.Settings.of(kafka.bootstrapServers(), new TopicNames("load.")), store,
        new SimpleMeterRegistry())) {
      assertThat(ingestor.awaitCaughtUp(Duration.ofSeconds(30))).isTrue();
    }
    assertThat(store.user("u1").value("country")).as("the later row wins").isEqualTo("at");
    assertThat(store.user("u1").value("age")).isEqualTo("32.0");
    assertThat(store.user("u2").value("age")).as("an empty cell is missing").isNull();
    assertThat(store.user("u2").value("unused")).isNull();
    assertThat(store.item("i1").bag("tags", "|")).containsExactly("a", "b");
    assertThat(store.item("i1").eventTimeMs("price")).isEqualTo(1_700_000_000_000L);
    assertThat(store.item("i2").value("price")).isEqualTo("1.0");
  }

  @Test
  void badRowsStopTheLoadUnlessTolerated() throws Exception {
    Path schema = Files.writeString(dir.resolve("schema.yaml"), SCHEMA);
    Path items = Files.writeString(dir.resolve("items.csv"), """
        item_id,price
        i1,1
        i2,cheap
        ,3
        i4,4
        """);
    Result strict = run("features", "load", "--schema", schema.toString(), "--entity", "item", "--file",
        items.toString(), "--bootstrap-servers", kafka.bootstrapServers(), "--topic-prefix", "bad.");
    assertThat(strict.exit()).isEqualTo(2);
    assertThat(strict.err()).contains("items.csv:3: field 'price': column 'price' holds 'cheap', not a number");

    Result tolerant = run("features", "load", "--schema", schema.toString(), "--entity", "item", "--file",
        items.toString(), "--bootstrap-servers", kafka.bootstrapServers(), "--topic-prefix", "bad.",
        "--max-bad-rows", "2");
    assertThat(tolerant.exit()).as(tolerant.err()).isZero();
    assertThat(tolerant.out()).contains("published 2 item updates").contains("2 bad rows skipped");

    // Finite as a double, not as the model's float: a bad row too, counted like the others.
    Files.writeString(items, "item_id,price\ni1,1\ni5,1e39\ni6,2\n");
    Result overflow = run("features", "load", "--schema", schema.toString(), "--entity", "item", "--file",
        items.toString(), "--bootstrap-servers", kafka.bootstrapServers(), "--topic-prefix", "bad.");
    assertThat(overflow.exit()).isEqualTo(2);
    assertThat(overflow.err()).contains("items.csv:3: field 'price': column 'price' is 1.0E39, beyond the float range");
    Result skipped = run("features", "load", "--schema", schema.toString(), "--entity", "item", "--file",
        items.toString(), "--bootstrap-servers", kafka.bootstrapServers(), "--topic-prefix", "bad.",
        "--max-bad-rows", "1");
    assertThat(skipped.exit()).as(skipped.err()).isZero();
    assertThat(skipped.out()).contains("published 2 item updates").contains("1 bad row");
  }

  @Test
  void serveRanksWithTheLoadedFeaturesOnceCaughtUp() throws Exception {
    Path schema = Files.writeString(dir.resolve("schema.yaml"), SCHEMA);
    List<RawRecord> records = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      records.add(RawRecord.of(Map.of("user_id", "u" + i % 3, "country", i % 2 == 0 ? "de" : "fr", "age",
          "" + (20 + i), "item_id", "i" + i % 4, "tags", "t" + i % 3, "price", "" + 1.5 * i, "click", "" + i % 2)));
    }
    Transforms t = Transforms.fit(FeatureSchema.parse(SCHEMA), records);
    ModelRegistry registry = ModelRegistry.open(dir.resolve("registry"));
    registry.publish("m", Parameters.initialize(new ModelConfig("m", 8, 2, 1, t.tasks(), 2, 2, 2, List.of(8), 1, false,
        t.modelFields()), 5), Map.of(Transforms.METADATA_KEY, t.toJson()), "{}");
    Files.writeString(dir.resolve("users.csv"), "user_id,country,age\nu1,fr,33\n");
    Files.writeString(dir.resolve("items.csv"), "item_id,tags,price\ni1,t2,9\ni2,t0|t1,1.5\n");
    for (String entity : List.of("user", "item")) {
      Result r = run("features", "load", "--schema", schema.toString(), "--entity", entity, "--file",
          dir.resolve(entity + "s.csv").toString(), "--bootstrap-servers", kafka.bootstrapServers(),
          "--topic-prefix", "serve.");
      assertThat(r.exit()).as(r.err()).isZero();
    }

    RankRequest bare = RankRequest.newBuilder().setUserId("u1")
        .addCandidates(Candidate.newBuilder().setItemId("i1")).addCandidates(Candidate.newBuilder().setItemId("i2"))
        .build();
    RankRequest carried = RankRequest.newBuilder().setUserId("u1").putContext("country", cat("fr"))
        .putContext("age", dense(33))
        .addCandidates(Candidate.newBuilder().setItemId("i1").putFeatures("tags", bag("t2"))
            .putFeatures("price", dense(9)))
        .addCandidates(Candidate.newBuilder().setItemId("i2").putFeatures("tags", bag("t0", "t1"))
            .putFeatures("price", dense(1.5)))
        .build();
    ServeCommand serve = new ServeCommand();
    AtomicReference<RankResponse> fromStore = new AtomicReference<>();
    AtomicReference<RankResponse> fromRequest = new AtomicReference<>();
    AtomicReference<String> health = new AtomicReference<>();
    AtomicReference<String> scraped = new AtomicReference<>();
    serve.onStart = server -> {
      ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
      try (HttpClient http = HttpClient.newHttpClient()) {
        var probe = HealthGrpc.newBlockingStub(channel);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        HealthCheckResponse.ServingStatus status;
        do {
          status = probe.check(HealthCheckRequest.newBuilder().setService(RankerGrpc.SERVICE_NAME).build()).getStatus();
        } while (status != HealthCheckResponse.ServingStatus.SERVING && System.nanoTime() < deadline);
        health.set(status.name());
        var ranker = RankerGrpc.newBlockingStub(channel);
        fromStore.set(ranker.rank(bare));
        fromRequest.set(ranker.rank(carried));
        scraped.set(http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + serve.boundMetricsPort
            + "/metrics")).build(), HttpResponse.BodyHandlers.ofString()).body());
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } finally {
        channel.shutdownNow();
        server.close();
      }
    };
    int exit = new CommandLine(serve).execute("--registry", dir.resolve("registry").toString(), "--model", "m",
        "--port", "0", "--metrics-port", "0", "--threads", "1", "--registry-poll", "0",
        "--bootstrap-servers", kafka.bootstrapServers(), "--topic-prefix", "serve.");
    assertThat(exit).isZero();
    assertThat(health.get()).isEqualTo("SERVING");
    // The stored features score like the same values carried by the request (up to the last bits,
    // which SIMD reductions may order differently once compiled).
    assertThat(fromStore.get().getCandidatesList()).extracting(c -> c.getItemId())
        .containsExactlyElementsOf(fromRequest.get().getCandidatesList().stream().map(c -> c.getItemId()).toList());
    for (int i = 0; i < 2; i++) {
      assertThat(fromStore.get().getCandidates(i).getScore())
          .isCloseTo(fromRequest.get().getCandidates(i).getScore(), within(1e-5f));
    }
    assertThat(scraped.get()).contains("hiformer_features_updates_total{kind=\"item\"} 2.0")
        .contains("hiformer_features_updates_total{kind=\"user\"} 1.0").contains("hiformer_features_caught_up 1.0")
        .contains("hiformer_features_lag_records{kind=\"user\"} 0.0");
  }

  private static FeatureValue cat(String v) {
    return FeatureValue.newBuilder().setCategorical(v).build();
  }

  private static FeatureValue dense(double v) {
    return FeatureValue.newBuilder().setDense(v).build();
  }

  private static FeatureValue bag(String... items) {
    return FeatureValue.newBuilder().setBag(StringList.newBuilder().addAllValues(List.of(items))).build();
  }
}
