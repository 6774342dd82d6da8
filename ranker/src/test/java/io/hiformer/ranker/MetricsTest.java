package io.hiformer.ranker;

import static io.hiformer.ranker.RankServiceTest.item;
import static io.hiformer.ranker.RankServiceTest.request;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import io.hiformer.model.ModelRegistry;
import io.hiformer.proto.RankRequest;
import io.hiformer.proto.RankResponse;
import io.hiformer.proto.RankerGrpc;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Rank metrics scraped over HTTP from a real gRPC server and metrics server on loopback ports. */
class MetricsTest {
  @TempDir
  static Path dir;

  static ModelRegistry registry;
  static LoadedModel v1;
  static LoadedModel v2;

  @BeforeAll
  static void load() throws IOException {
    registry = ModelRegistry.open(dir.resolve("registry"));
    TinyModels.publish(registry, 1);
    TinyModels.publish(registry, 2);
    v1 = LoadedModel.load(registry, registry.version(TinyModels.NAME, 1), 1);
    v2 = LoadedModel.load(registry, registry.version(TinyModels.NAME, 2), 1);
  }

  @AfterAll
  static void unload() {
    v1.close();
    v2.close();
  }

  static RankRequest small() {
    return request("u1", item("i0", 3), item("i1", 5)).build();
  }

  /** The samples of a Prometheus text exposition: {@code name{labels}} to value. */
  static Map<String, Double> samples(String text) {
    Map<String, Double> out = new HashMap<>();
    for (String line : text.split("\n")) {
      if (line.isBlank() || line.startsWith("#")) {
        continue;
      }
      int space = line.lastIndexOf(' ');
      out.put(line.substring(0, space), Double.parseDouble(line.substring(space + 1)));
    }
    return out;
  }

  static String get(HttpClient http, int port, String path) throws Exception {
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(
        URI.create("http://" + InetAddress.getLoopbackAddress().getHostAddress() + ":" + port + path)).GET().build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).as(path).isEqualTo(200);
    assertThat(r.headers().firstValue("Content-Type")).hasValue(MetricsServer.CONTENT_TYPE);
    return r.body();
  }

  @Test
  void countsCallsErrorsShedCallsAndSwaps() throws Exception {
    ProtectionTest.HoldingFormula formula = new ProtectionTest.HoldingFormula();
    RankService service = new RankService(ServedArms.single(v1, formula), RankOptions.DEFAULTS);
    InetAddress loopback = InetAddress.getLoopbackAddress();
    RankerServer server = RankerServer.start(new InetSocketAddress(loopback, 0), service,
        RankerServer.DEFAULT_MAX_INBOUND_MESSAGE_BYTES, Duration.ofSeconds(5), 1);
    ManagedChannel channel = ManagedChannelBuilder.forAddress(loopback.getHostAddress(), server.port())
        .usePlaintext().build();
    try (MetricsServer metricsServer = MetricsServer.start(new InetSocketAddress(loopback, 0), service.metrics());
        HttpClient http = HttpClient.newHttpClient()) {
      RankerGrpc.RankerBlockingStub ranker = RankerGrpc.newBlockingStub(channel);
      for (int i = 0; i < 3; i++) {
        assertThat(ranker.rank(small()).getCandidatesCount()).isEqualTo(2);
      }
      assertThatThrownBy(() -> ranker.rank(request("", item("i0", 3)).build()))
          .isInstanceOfSatisfying(StatusRuntimeException.class,
              e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT));

      // Hold one call in the service so that the next is shed by the limit of 1.
      formula.arm();
      CompletableFuture<RankResponse> held = new CompletableFuture<>();
      RankerGrpc.newStub(channel).rank(small(), new StreamObserver<>() {
        @Override
        public void onNext(RankResponse r) {
          held.complete(r);
        }

        @Override
        public void onError(Throwable t) {
          held.completeExceptionally(t);
        }

        @Override
        public void onCompleted() {}
      });
      assertThat(formula.entered.await(10, TimeUnit.SECONDS)).isTrue();
      assertThatThrownBy(() -> ranker.rank(small()))
          .isInstanceOfSatisfying(StatusRuntimeException.class,
              e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED));
      formula.release.countDown();
      assertThat(held.get(10, TimeUnit.SECONDS).getCandidatesCount()).isEqualTo(2);

      // A call is recorded before its status is sent, so every call above is counted by now.
      String text = get(http, metricsServer.port(), "/metrics");
      Map<String, Double> s = samples(text);
      assertThat(s).containsEntry("hiformer_rank_latency_seconds_count{arm=\"default\",status=\"OK\"}", 4.0)
          .containsEntry("hiformer_rank_latency_seconds_count{arm=\"default\",status=\"INVALID_ARGUMENT\"}", 1.0)
          .containsEntry("hiformer_rank_latency_seconds_count{arm=\"none\",status=\"RESOURCE_EXHAUSTED\"}", 1.0)
          .containsEntry("hiformer_rank_latency_seconds_bucket{arm=\"default\",status=\"OK\",le=\"+Inf\"}", 4.0)
          .containsEntry("hiformer_candidates_scored_total{arm=\"default\"}", 8.0)
          .containsEntry("hiformer_rank_errors_total{status=\"INVALID_ARGUMENT\"}", 1.0)
          .containsEntry("hiformer_rank_errors_total{status=\"RESOURCE_EXHAUSTED\"}", 1.0)
          .containsEntry("hiformer_model_version{arm=\"default\",model=\"tiny\"}", 1.0)
          .containsEntry("hiformer_model_swaps_total", 0.0)
          .containsEntry("hiformer_model_refusals_total", 0.0)
          .doesNotContainKey("hiformer_rank_errors_total{status=\"OK\"}");
      // A percentiles histogram: many finite buckets, so Prometheus can compute p99.
      assertThat(s.keySet().stream()
          .filter(k -> k.startsWith("hiformer_rank_latency_seconds_bucket{arm=\"default\",status=\"OK\",le=\""))
          .count()).isGreaterThan(10);
      assertThat(text).contains("# TYPE hiformer_rank_latency_seconds histogram");

      assertThat(service.swap(v2)).isSameAs(v1);
      s = samples(get(http, metricsServer.port(), "/metrics"));
      assertThat(s).containsEntry("hiformer_model_version{arm=\"default\",model=\"tiny\"}", 2.0)
          .containsEntry("hiformer_model_swaps_total", 1.0);
      assertThat(ranker.rank(small()).getModelVersion()).isEqualTo(2);
      assertThat(samples(get(http, metricsServer.port(), "/metrics")))
          .containsEntry("hiformer_candidates_scored_total{arm=\"default\"}", 10.0);

      HttpResponse<String> missing = http.send(HttpRequest.newBuilder(URI.create(
          "http://" + loopback.getHostAddress() + ":" + metricsServer.port() + "/other")).GET().build(),
          HttpResponse.BodyHandlers.ofString());
      assertThat(missing.statusCode()).isEqualTo(404);
    } finally {
      if (formula.release != null) {
        formula.release.countDown();
      }
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      server.close();
    }
  }

  @Test
  void experimentsReloadsCountSwapsAndRefusals() throws Exception {
    Path f = dir.resolve("metrics-experiments.yaml");
    Files.writeString(f, "salt: r\narms: [{name: a, model: 1, share: 1}]\n");
    try (ExperimentsWatcher w = new ExperimentsWatcher(f, registry, TinyModels.NAME, 1, RankOptions.DEFAULTS)) {
      RankerMetrics metrics = w.service().metrics();
      assertThat(samples(metrics.scrape())).containsEntry("hiformer_model_version{arm=\"a\",model=\"tiny\"}", 1.0);

      Files.writeString(f, "salt: r\narms: [{name: a, model: 9, share: 1}]\n");
      assertThat(w.reloadIfChanged()).isFalse();
      assertThat(samples(metrics.scrape())).containsEntry("hiformer_model_refusals_total", 1.0)
          .containsEntry("hiformer_model_swaps_total", 0.0)
          .containsEntry("hiformer_model_version{arm=\"a\",model=\"tiny\"}", 1.0);

      Files.writeString(f, "salt: r\narms: [{name: a, model: 1, share: 0.5}, {name: b, model: 2, share: 0.5}]\n");
      assertThat(w.reloadIfChanged()).isTrue();
      assertThat(samples(metrics.scrape())).containsEntry("hiformer_model_refusals_total", 1.0)
          .containsEntry("hiformer_model_swaps_total", 1.0)
          .containsEntry("hiformer_model_version{arm=\"a\",model=\"tiny\"}", 1.0)
          .containsEntry("hiformer_model_version{arm=\"b\",model=\"tiny\"}", 2.0);
    }
  }
}
