package io.hiformer.ops;

import static io.hiformer.ops.VerifyCommandTest.run;
import static org.assertj.core.api.Assertions.assertThat;

import io.hiformer.features.FeatureSchema;
import io.hiformer.features.online.FeatureIngestor;
import io.hiformer.features.online.FeatureStore;
import io.hiformer.features.kafka.TopicNames;
import io.hiformer.features.online.StoreSchema;
import io.hiformer.localkafka.KafkaBroker;
import io.hiformer.ops.VerifyCommandTest.Result;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.config.ConfigResource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

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
  }
}
