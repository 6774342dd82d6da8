package io.hiformer.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.hiformer.proto.Candidate;
import io.hiformer.proto.RankRequest;
import io.hiformer.proto.RankerGrpc;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** A ranker started on an empty registry waits, not ready, and serves the first version published. */
class ServeAwaitingModelTest {
  @TempDir
  Path root;

  @Test
  void waitsNotServingThenServesTheFirstVersionPublished() throws Exception {
    Path registry = Files.createDirectories(root.resolve("registry"));
    ServeCommand serve = new ServeCommand();
    AtomicReference<Throwable> failure = new AtomicReference<>();
    serve.onStart = server -> {
      ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
      try (HttpClient http = HttpClient.newHttpClient()) {
        var health = HealthGrpc.newBlockingStub(channel);
        var ranker = RankerGrpc.newBlockingStub(channel);
        RankRequest request = RankRequest.newBuilder().setUserId("u0")
            .addCandidates(Candidate.newBuilder().setItemId("i1")).build();
        assertThat(health.check(HealthCheckRequest.newBuilder().setService(RankerGrpc.SERVICE_NAME).build())
            .getStatus()).isEqualTo(ServingStatus.NOT_SERVING);
        assertThatThrownBy(() -> ranker.rank(request)).isInstanceOfSatisfying(StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE));
        assertThat(status(http, serve.boundMetricsPort, "/ready")).isEqualTo(503);
        assertThat(status(http, serve.boundMetricsPort, "/live")).isEqualTo(200);

        ServeCommandTest.publishTinyModel(registry, "tiny"); // versions 1 and 2, production -> 1
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        ServingStatus now;
        do {
          Thread.sleep(100);
          now = health.check(HealthCheckRequest.newBuilder().setService(RankerGrpc.SERVICE_NAME).build()).getStatus();
        } while (now != ServingStatus.SERVING && System.nanoTime() < deadline);
        assertThat(now).isEqualTo(ServingStatus.SERVING);
        assertThat(ranker.rank(request).getModelVersion()).isEqualTo(1);
        assertThat(status(http, serve.boundMetricsPort, "/ready")).isEqualTo(200);
      } catch (Throwable t) {
        failure.set(t);
      } finally {
        channel.shutdownNow();
        server.close();
      }
    };
    int exit = new CommandLine(serve).execute("--registry", registry.toString(), "--model", "tiny", "--version",
        "production", "--port", "0", "--metrics-port", "0", "--threads", "1", "--registry-poll", "1");
    if (failure.get() != null) {
      throw new AssertionError(failure.get());
    }
    assertThat(exit).isZero();
  }

  private static int status(HttpClient http, int port, String path) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).build(),
        HttpResponse.BodyHandlers.discarding()).statusCode();
  }
}
