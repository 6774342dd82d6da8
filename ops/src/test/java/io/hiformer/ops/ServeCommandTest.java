package io.hiformer.ops;

import static io.hiformer.ops.VerifyCommandTest.run;
import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.hiformer.features.FeatureSchema;
import io.hiformer.features.RawRecord;
import io.hiformer.features.Transforms;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.ModelRegistry;
import io.hiformer.model.Parameters;
import io.hiformer.ops.VerifyCommandTest.Result;
import io.hiformer.proto.Candidate;
import io.hiformer.proto.RankRequest;
import io.hiformer.proto.RankResponse;
import io.hiformer.proto.RankerGrpc;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code hiformer serve} in-process: serves a registry model on an ephemeral loopback port. */
class ServeCommandTest {
  @TempDir
  Path root;

  @BeforeEach
  void publish() throws Exception {
    publishTinyModel(root, "tiny");
  }

  /** Two versions of a tiny user x item model with fitted transforms; alias production on version 1. */
  static void publishTinyModel(Path root, String name) throws Exception {
    FeatureSchema schema = FeatureSchema.parse("""
        tasks: [{name: click}]
        fields:
          - {name: user_id, kind: categorical, side: user}
          - {name: item_id, kind: categorical, side: item}
        """);
    List<RawRecord> records = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      records.add(RawRecord.of(Map.of("user_id", "u" + i % 2, "item_id", "i" + i % 3, "click", "" + i % 2)));
    }
    Transforms t = Transforms.fit(schema, records);
    ModelConfig config = new ModelConfig(name, 8, 2, 1, t.tasks(), 2, 2, 2, List.of(8), 0, false, t.modelFields());
    ModelRegistry registry = ModelRegistry.open(root);
    for (int seed = 1; seed <= 2; seed++) {
      registry.publish(name, Parameters.initialize(config, seed), Map.of(Transforms.METADATA_KEY, t.toJson()), "{}");
    }
    registry.setAlias(name, "production", 1);
  }

  @Test
  void servesTheResolvedVersionUntilClosed() {
    ServeCommand serve = new ServeCommand();
    AtomicReference<RankResponse> response = new AtomicReference<>();
    AtomicReference<String> scraped = new AtomicReference<>();
    serve.onStart = server -> {
      ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
      try (java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient()) {
        response.set(RankerGrpc.newBlockingStub(channel).rank(RankRequest.newBuilder().setUserId("u0")
            .addCandidates(Candidate.newBuilder().setItemId("i1")).addCandidates(Candidate.newBuilder().setItemId("i2"))
            .build()));
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        scraped.set(http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(
            "http://127.0.0.1:" + serve.boundMetricsPort + "/metrics")).GET().build(),
            java.net.http.HttpResponse.BodyHandlers.ofString()).body());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      } finally {
        server.close();
      }
    };
    int exit = new CommandLine(serve).execute("--registry", root.toString(), "--model", "tiny", "--version", "production",
        "--port", "0", "--metrics-port", "0", "--threads", "1");
    assertThat(exit).isZero();
    assertThat(response.get().getModelName()).isEqualTo("tiny");
    assertThat(response.get().getModelVersion()).isEqualTo(1);
    assertThat(response.get().getCandidatesCount()).isEqualTo(2);
    assertThat(scraped.get()).contains("hiformer_candidates_scored_total{arm=\"default\"} 2",
        "hiformer_model_version{arm=\"default\",model=\"tiny\"} 1");
  }

  @Test
  void servesExperimentArms() throws Exception {
    Path file = root.resolve("experiments.yaml");
    java.nio.file.Files.writeString(file, """
        salt: s1
        arms:
          - {name: control, model: production, share: 0.5}
          - {name: treatment, model: 2, share: 0.5, score: {weighted_sum: {click: 1}}}
        """);
    ServeCommand serve = new ServeCommand();
    AtomicReference<RankResponse> response = new AtomicReference<>();
    serve.onStart = server -> {
      ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
      try {
        response.set(RankerGrpc.newBlockingStub(channel).rank(RankRequest.newBuilder().setUserId("u0")
            .setArm("treatment").addCandidates(Candidate.newBuilder().setItemId("i1")).build()));
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } finally {
        server.close();
      }
    };
    int exit = new CommandLine(serve).execute("--registry", root.toString(), "--model", "tiny",
        "--experiments", file.toString(), "--port", "0", "--metrics-port", "0", "--threads", "1");
    assertThat(exit).isZero();
    assertThat(response.get().getArm()).isEqualTo("treatment");
    assertThat(response.get().getModelVersion()).isEqualTo(2);
  }

  @Test
  void servesMutualTlsWithTokensFollowsTheAliasAndLoadtestTalksToIt() throws Exception {
    io.hiformer.ranker.TestCertificates certs = io.hiformer.ranker.TestCertificates.create(root.resolve("certs"));
    Path tokens = root.resolve("tokens.txt");
    java.nio.file.Files.writeString(tokens, "# clients\nsecret-1\n");
    ServeCommand serve = new ServeCommand();
    List<Long> versions = new ArrayList<>();
    AtomicReference<Result> load = new AtomicReference<>();
    AtomicReference<io.grpc.Status.Code> noToken = new AtomicReference<>();
    serve.onStart = server -> {
      try {
        ManagedChannel channel = io.grpc.Grpc.newChannelBuilderForAddress("localhost", server.port(),
            io.grpc.TlsChannelCredentials.newBuilder().trustManager(certs.ca().toFile())
                .keyManager(certs.clientCert().toFile(), certs.clientKey().toFile()).build()).build();
        RankRequest request = RankRequest.newBuilder().setUserId("u0").addCandidates(Candidate.newBuilder().setItemId("i1"))
            .build();
        try {
          noToken.set(io.grpc.Status.fromThrowable(org.assertj.core.api.Assertions.catchThrowable(
              () -> RankerGrpc.newBlockingStub(channel).rank(request))).getCode());
          io.grpc.Metadata h = new io.grpc.Metadata();
          h.put(io.grpc.Metadata.Key.of("authorization", io.grpc.Metadata.ASCII_STRING_MARSHALLER), "Bearer secret-1");
          var stub = RankerGrpc.newBlockingStub(channel).withInterceptors(io.grpc.stub.MetadataUtils.newAttachHeadersInterceptor(h));
          versions.add(stub.rank(request).getModelVersion());
          // The alias moves; the registry poll (every second) swaps v2 in.
          ModelRegistry.open(root).setAlias("tiny", "production", 2);
          long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
          long v = 1;
          while (v != 2 && System.nanoTime() < deadline) {
            Thread.sleep(50);
            v = stub.rank(request).getModelVersion();
          }
          versions.add(v);
        } finally {
          channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        load.set(run("loadtest", "--target", "localhost:" + server.port(), "--concurrency", "1", "--candidates", "3",
            "--duration", "0.5", "--tls-ca", certs.ca().toString(), "--tls-cert", certs.clientCert().toString(),
            "--tls-key", certs.clientKey().toString(), "--auth-token-file", tokens.toString()));
      } catch (Exception e) {
        throw new IllegalStateException(e);
      } finally {
        server.close();
      }
    };
    int exit = new CommandLine(serve).execute("--registry", root.toString(), "--model", "tiny", "--version", "production",
        "--port", "0", "--metrics-port", "0", "--threads", "1", "--registry-poll", "1",
        "--tls-cert", certs.serverCert().toString(), "--tls-key", certs.serverKey().toString(),
        "--tls-client-ca", certs.ca().toString(), "--auth-tokens", tokens.toString());
    assertThat(exit).isZero();
    assertThat(noToken.get()).isEqualTo(io.grpc.Status.Code.UNAUTHENTICATED);
    assertThat(versions).containsExactly(1L, 2L);
    assertThat(load.get().exit()).as(load.get().err()).isZero();
    assertThat(load.get().out()).containsPattern("status     OK [1-9][0-9]*  RESOURCE_EXHAUSTED 0  DEADLINE_EXCEEDED 0  other 0");
  }

  @Test
  void tlsOptionsMustComeTogether() {
    Result r = run("serve", "--registry", root.toString(), "--model", "tiny", "--port", "0", "--metrics-port", "0",
        "--tls-cert", root.resolve("c.pem").toString());
    assertThat(r.exit()).isEqualTo(2);
    assertThat(r.err()).contains("--tls-cert and --tls-key go together");
  }

  @Test
  void protectionOptionsReachTheServer() {
    ServeCommand serve = new ServeCommand();
    AtomicReference<Integer> limit = new AtomicReference<>();
    AtomicReference<io.grpc.Status.Code> oversized = new AtomicReference<>();
    serve.onStart = server -> {
      limit.set(server.maxConcurrentCalls());
      ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
      try {
        RankerGrpc.newBlockingStub(channel).rank(RankRequest.newBuilder().setUserId("u".repeat(2048))
            .addCandidates(Candidate.newBuilder().setItemId("i1")).build());
      } catch (io.grpc.StatusRuntimeException e) {
        oversized.set(e.getStatus().getCode());
      } finally {
        try {
          channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        server.close();
      }
    };
    int exit = new CommandLine(serve).execute("--registry", root.toString(), "--model", "tiny", "--port", "0", "--metrics-port", "0",
        "--threads", "1", "--max-concurrent-calls", "3", "--max-message-bytes", "1024");
    assertThat(exit).isZero();
    assertThat(limit.get()).isEqualTo(3);
    assertThat(oversized.get()).isEqualTo(io.grpc.Status.Code.RESOURCE_EXHAUSTED);
  }

  @Test
  void aNonPositiveConcurrencyLimitExits2() {
    Result r = run("serve", "--registry", root.toString(), "--model", "tiny", "--port", "0", "--metrics-port", "0",
        "--max-concurrent-calls", "0");
    assertThat(r.exit()).isEqualTo(2);
    assertThat(r.err()).contains("--max-concurrent-calls must be positive");
  }

  @Test
  void anItemCacheOfOneRowOrLessThanNoneExits2() {
    for (String rows : new String[] {"1", "-5"}) {
      Result r = run("serve", "--registry", root.toString(), "--model", "tiny", "--port", "0", "--metrics-port", "0",
          "--item-cache-rows", rows);
      assertThat(r.exit()).isEqualTo(2);
      assertThat(r.err()).contains("--item-cache-rows must be 0 (no cache) or at least 2, got " + rows);
    }
  }

  @Test
  void nonPositiveConnectionLimitsExit2() {
    Result r = run("serve", "--registry", root.toString(), "--model", "tiny", "--port", "0", "--metrics-port", "0",
        "--request-timeout", "0");
    assertThat(r.exit()).isEqualTo(2);
    assertThat(r.err()).contains("--request-timeout must be positive");
    r = run("serve", "--registry", root.toString(), "--model", "tiny", "--port", "0", "--metrics-port", "0",
        "--max-calls-per-connection", "0");
    assertThat(r.exit()).isEqualTo(2);
    assertThat(r.err()).contains("--max-calls-per-connection must be positive");
  }

  @Test
  void unknownModelExits2WhenNothingCouldBringIt() {
    // With polling (the default) or Kafka, serve waits for the model instead (ServeAwaitingModelTest).
    Result r = run("serve", "--registry", root.toString(), "--model", "nope", "--port", "0", "--metrics-port", "0",
        "--registry-poll", "0");
    assertThat(r.exit()).isEqualTo(2);
    assertThat(r.err()).contains("no model 'nope'", "tiny");
  }
}
