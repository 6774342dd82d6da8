package io.hiformer.ranker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.hiformer.model.ModelRegistry;
import io.hiformer.proto.Candidate;
import io.hiformer.proto.RankRequest;
import io.hiformer.proto.RankResponse;
import io.hiformer.proto.RankerGrpc;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.NoSuchElementException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The module's entry point: a ranker started from options, on real sockets, from a real registry. */
class RankerTest {
  @TempDir
  Path root;

  private static Ranker.Options local(ModelRegistry registry) {
    return Ranker.Options.of(registry, TinyModels.NAME).withAddress(new InetSocketAddress(0))
        .withMetricsAddress(new InetSocketAddress(0)).withRegistryPoll(Duration.ZERO);
  }

  private static RankRequest request() {
    return RankRequest.newBuilder().setUserId("u1")
        .addCandidates(Candidate.newBuilder().setItemId("i1"))
        .addCandidates(Candidate.newBuilder().setItemId("i2")).build();
  }

  @Test
  void startsFromOptionsServesWithTheScoringPassedInAndStops() throws Exception {
    ModelRegistry registry = ModelRegistry.open(root);
    TinyModels.publish(registry, 1);
    TinyModels.publish(registry, 2);
    ByteArrayOutputStream lines = new ByteArrayOutputStream();
    Ranker ranker = Ranker.start(local(registry).withVersion("1").withScoring(3, ScoringBackend.CPU)
        .withLimits(1 << 20, 5, Duration.ofSeconds(5), 16), new PrintStream(lines, true, StandardCharsets.UTF_8));
    ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", ranker.port()).usePlaintext().build();
    try {
      RankResponse r = RankerGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS).rank(request());
      assertThat(r.getModelVersion()).isEqualTo(1);
      assertThat(r.getArm()).isEqualTo(RankService.DEFAULT_ARM);
      assertThat(r.getCandidatesCount()).isEqualTo(2);
      assertThat(HealthGrpc.newBlockingStub(channel).check(HealthCheckRequest.newBuilder()
          .setService(RankerGrpc.SERVICE_NAME).build()).getStatus()).isEqualTo(ServingStatus.SERVING);
      assertThat(ranker.maxConcurrentCalls()).isEqualTo(5);
      HttpClient http = HttpClient.newHttpClient();
      HttpResponse<String> scrape = http.send(HttpRequest.newBuilder(
          URI.create("http://127.0.0.1:" + ranker.metricsPort() + "/metrics")).build(), HttpResponse.BodyHandlers.ofString());
      // The arm reached the metrics through the call.
      assertThat(scrape.body()).contains("hiformer_candidates_scored_total{arm=\"default\"} 2");
      String printed = lines.toString(StandardCharsets.UTF_8);
      // The scoring options reached the model: three CPU cores.
      assertThat(printed).contains("scoring on cpu ").contains(" x3")
          .contains("serving tiny v1 on port " + ranker.port())
          .contains("metrics on port " + ranker.metricsPort());
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      ranker.close();
    }
    ranker.awaitTermination(); // returns: closed
    ranker.close(); // idempotent
  }

  @Test
  void withNoVersionAndNothingToBringOneItFailsNamingWhatIsMissing() throws Exception {
    ModelRegistry registry = ModelRegistry.open(root);
    TinyModels.publish(registry, 1);
    assertThatThrownBy(() -> Ranker.start(local(registry).withVersion("production"),
        new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8)))
        .isInstanceOf(NoSuchElementException.class)
        .hasMessageContaining("model 'tiny'").hasMessageContaining("has no version or alias 'production'");
  }

  @Test
  void waitsForTheFirstVersionWhenPollsCanBringIt() throws Exception {
    ModelRegistry registry = ModelRegistry.open(root);
    ByteArrayOutputStream lines = new ByteArrayOutputStream();
    try (Ranker ranker = Ranker.start(local(registry).withRegistryPoll(Duration.ofMillis(100)),
        new PrintStream(lines, true, StandardCharsets.UTF_8))) {
      ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", ranker.port()).usePlaintext().build();
      try {
        HealthGrpc.HealthBlockingStub health = HealthGrpc.newBlockingStub(channel);
        HealthCheckRequest ranking = HealthCheckRequest.newBuilder().setService(RankerGrpc.SERVICE_NAME).build();
        assertThat(health.check(ranking).getStatus()).isEqualTo(ServingStatus.NOT_SERVING);
        assertThat(lines.toString(StandardCharsets.UTF_8)).contains("waiting for it");
        TinyModels.publish(registry, 1);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (health.check(ranking).getStatus() != ServingStatus.SERVING && System.nanoTime() < deadline) {
          Thread.sleep(50);
        }
        assertThat(RankerGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS).rank(request())
            .getModelVersion()).isEqualTo(1);
      } finally {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }
}
