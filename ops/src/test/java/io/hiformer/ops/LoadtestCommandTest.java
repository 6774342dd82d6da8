package io.hiformer.ops;

import static io.hiformer.ops.VerifyCommandTest.run;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.hiformer.features.FeatureSchema;
import io.hiformer.features.RawRecord;
import io.hiformer.features.Transforms;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.ModelRegistry;
import io.hiformer.model.Parameters;
import io.hiformer.ops.VerifyCommandTest.Result;
import io.hiformer.ranker.Ranker;
import io.hiformer.ranker.ScoringBackend;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code hiformer loadtest} against a real server on a loopback port, and in-process. */
class LoadtestCommandTest {
  @TempDir
  Path root;

  private Ranker server;

  @BeforeEach
  void serve() throws Exception {
    FeatureSchema schema = FeatureSchema.parse("""
        tasks: [{name: click}, {name: like}]
        fields:
          - {name: user_id, kind: categorical, side: user}
          - {name: item_id, kind: categorical, side: item}
          - {name: hour, kind: categorical, side: context}
          - {name: price, kind: dense, side: item, standardize: true}
        """);
    List<RawRecord> records = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      records.add(RawRecord.of(Map.of("user_id", "u" + i % 3, "item_id", "i" + i % 5, "hour", Integer.toString(i % 4),
          "price", Double.toString(1.5 * i), "click", Integer.toString(i % 2), "like", i % 3 == 0 ? "1" : "0")));
    }
    Transforms t = Transforms.fit(schema, records);
    ModelConfig config = new ModelConfig("tiny", 8, 2, 1, t.tasks(), 2, 2, 2, List.of(8), 1, false, t.modelFields());
    ModelRegistry registry = ModelRegistry.open(root.resolve("registry"));
    ModelRegistry.Version v = registry.publish("tiny", Parameters.initialize(config, 7),
        Map.of(Transforms.METADATA_KEY, t.toJson()), "{}");
    server = Ranker.start(Ranker.Options.of(registry, v.model()).withAddress(new java.net.InetSocketAddress(0))
        .withMetricsAddress(new java.net.InetSocketAddress(0)).withRegistryPoll(java.time.Duration.ZERO)
        .withScoring(1, ScoringBackend.CPU), new java.io.PrintStream(java.io.OutputStream.nullOutputStream()));
  }

  @AfterEach
  void close() {
    server.close();
  }

  private String target() {
    return "127.0.0.1:" + server.port();
  }

  @Test
  void closedLoopAnswersAndWritesJson() throws Exception {
    Path json = root.resolve("out.json");
    Result r = run("loadtest", "--target", target(), "--concurrency", "2", "--candidates", "20", "--duration", "2",
        "--schema-from-registry", root.resolve("registry").toString(), "--model", "tiny", "--json", json.toString());
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).contains("closed loop", "req/s", "p99.9", "RESOURCE_EXHAUSTED");
    JsonNode n = new ObjectMapper().readTree(Files.readString(json));
    assertThat(n.path("status").path("OK").asLong()).isPositive();
    assertThat(n.path("status").path("other").asLong()).isZero();
    assertThat(n.path("latency_ms").path("p50").asDouble()).isLessThanOrEqualTo(n.path("latency_ms").path("p99").asDouble());
    for (String key : List.of("requests_per_s", "candidates_per_s", "issued", "completed", "dropped", "seconds")) {
      assertThat(n.has(key)).as(key).isTrue();
    }
    for (String key : List.of("p50", "p90", "p99", "p99_9", "max")) {
      assertThat(n.path("latency_ms").has(key)).as(key).isTrue();
    }
    assertThat(n.path("status").has("RESOURCE_EXHAUSTED")).isTrue();
    assertThat(n.path("status").has("DEADLINE_EXCEEDED")).isTrue();
    assertThat(n.path("candidates_per_s").asDouble()).isPositive();
  }

  @Test
  void openLoopIssuesAboutTheRequestedNumber() throws Exception {
    Path json = root.resolve("open.json");
    Result r = run("loadtest", "--target", target(), "--rps", "50", "--candidates", "5", "--duration", "1",
        "--context", "hour=3", "--deadline-ms", "5000", "--json", json.toString());
    assertThat(r.exit()).as(r.err()).isZero();
    JsonNode n = new ObjectMapper().readTree(Files.readString(json));
    assertThat(n.path("issued").asLong()).isBetween(40L, 60L);
    long completed = n.path("completed").asLong();
    assertThat(completed + n.path("dropped").asLong()).isEqualTo(n.path("issued").asLong());
    assertThat(n.path("status").path("OK").asLong()).isPositive();
  }

  @Test
  void inProcessBaselineReportsCandidatesPerSecond() throws Exception {
    Path json = root.resolve("baseline.json");
    Result r = run("loadtest", "--in-process", "--registry", root.resolve("registry").toString(), "--model", "tiny",
        "--candidates", "50", "--duration", "1", "--json", json.toString());
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).contains("in-process", "candidates/s");
    JsonNode n = new ObjectMapper().readTree(Files.readString(json));
    assertThat(n.path("candidates_per_s").asDouble()).isPositive();
    assertThat(n.path("status").path("other").asLong()).isZero();
  }

  @Test
  void inProcessModelOnlyTimesScoringAlone() throws Exception {
    Path json = root.resolve("model-only.json");
    Result r = run("loadtest", "--in-process", "--model-only", "--registry", root.resolve("registry").toString(),
        "--model", "tiny", "--candidates", "30", "--distinct", "4", "--duration", "0.5", "--json", json.toString());
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).contains("in-process model only");
    JsonNode n = new ObjectMapper().readTree(Files.readString(json));
    assertThat(n.path("status").path("OK").asLong()).isPositive();
    assertThat(n.path("status").path("other").asLong()).isZero();
  }

  @Test
  void inProcessReadsItemsFromAStoreWithAndWithoutTheItemRowCache() throws Exception {
    for (String rows : new String[] {"0", "1000"}) {
      Path json = root.resolve("stored-" + rows + ".json");
      Result r = run("loadtest", "--in-process", "--stored-items", "--item-cache-rows", rows, "--registry",
          root.resolve("registry").toString(), "--model", "tiny", "--candidates", "30", "--distinct", "4",
          "--duration", "0.5", "--json", json.toString());
      assertThat(r.exit()).as(r.err()).isZero();
      assertThat(r.out()).contains("stored items, item cache " + rows + " rows");
      JsonNode n = new ObjectMapper().readTree(Files.readString(json));
      assertThat(n.path("status").path("OK").asLong()).isPositive();
      assertThat(n.path("status").path("other").asLong()).isZero();
    }
    Result one = run("loadtest", "--in-process", "--item-cache-rows", "1", "--registry",
        root.resolve("registry").toString(), "--model", "tiny", "--duration", "0.5");
    assertThat(one.exit()).isEqualTo(2);
    assertThat(one.err()).contains("--item-cache-rows must be 0 (no cache) or at least 2, got 1");
    Result served = run("loadtest", "--target", target(), "--concurrency", "1", "--stored-items", "--duration", "0.5");
    assertThat(served.exit()).isEqualTo(2);
    assertThat(served.err()).contains("--stored-items needs --in-process");
  }

  @Test
  void needsTargetAndALoadShape() {
    Result r = run("loadtest", "--target", target(), "--duration", "1");
    assertThat(r.exit()).isEqualTo(2);
    assertThat(r.err()).contains("--rps N or --concurrency C");
  }

  /** A port nothing listens on: bound then closed. */
  private static int refusedPort() throws Exception {
    try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  @Test
  void endsAtItsDurationAndFailsNamingTheStatusWhenNoCallSucceeds() throws Exception {
    String refused = "127.0.0.1:" + refusedPort();
    for (String[] load : new String[][] {{"--concurrency", "4"}, {"--rps", "200"}}) {
      long start = System.nanoTime();
      java.util.concurrent.CompletableFuture<Result> run = java.util.concurrent.CompletableFuture.supplyAsync(
          () -> run("loadtest", "--target", refused, load[0], load[1], "--candidates", "3", "--duration", "1"));
      Result r = run.get(60, java.util.concurrent.TimeUnit.SECONDS); // it used to run forever
      assertThat(java.time.Duration.ofNanos(System.nanoTime() - start)).isLessThan(java.time.Duration.ofSeconds(30));
      assertThat(r.exit()).as(r.out() + r.err()).isEqualTo(1);
      assertThat(r.err()).contains("no call succeeded", "UNAVAILABLE").doesNotContain("Exception");
    }
  }
}
