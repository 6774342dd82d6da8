package io.hiformer.ranker;

import static io.hiformer.ranker.RankServiceTest.item;
import static io.hiformer.ranker.RankServiceTest.request;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.reflection.v1.ServerReflectionGrpc;
import io.grpc.reflection.v1.ServerReflectionRequest;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import io.hiformer.model.ModelRegistry;
import io.hiformer.proto.RankRequest;
import io.hiformer.proto.RankerGrpc;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** TLS, mutual TLS and bearer tokens against real servers on loopback ports, with certificates made here. */
class SecurityTest {
  @TempDir
  static Path dir;

  static TestCertificates certs;
  static LoadedModel model;
  static final RankRequest REQUEST = request("u1", item("i0", 1), item("i1", 2)).build();

  @BeforeAll
  static void setUp() throws IOException {
    certs = TestCertificates.create(dir.resolve("certs"));
    ModelRegistry registry = ModelRegistry.open(dir.resolve("registry"));
    TinyModels.publish(registry, 1);
    model = LoadedModel.load(registry, registry.version(TinyModels.NAME, 1), 1);
  }

  @AfterAll
  static void tearDown() {
    model.close();
  }

  static RankerServer start(RankerServer.Settings settings) throws IOException {
    return RankerServer.start(settings, new RankService(model));
  }

  static RankerServer.Settings loopback() {
    return RankerServer.Settings.of(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
  }

  static ManagedChannel channel(RankerServer s, ChannelCredentials credentials) {
    return Grpc.newChannelBuilderForAddress(InetAddress.getLoopbackAddress().getHostAddress(), s.port(), credentials)
        .build();
  }

  static ChannelCredentials tls(Path cert, Path key) throws IOException {
    TlsChannelCredentials.Builder b = TlsChannelCredentials.newBuilder().trustManager(certs.ca().toFile());
    if (cert != null) {
      b.keyManager(cert.toFile(), key.toFile());
    }
    return b.build();
  }

  static Status.Code rankCode(ManagedChannel ch) {
    try {
      RankerGrpc.newBlockingStub(ch).withDeadlineAfter(20, TimeUnit.SECONDS).rank(REQUEST);
      return Status.Code.OK;
    } catch (StatusRuntimeException e) {
      return e.getStatus().getCode();
    }
  }

  static void close(ManagedChannel ch) throws InterruptedException {
    ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }

  @Test
  void tlsServesTrustingClientsAndNotPlaintextOnes() throws Exception {
    try (RankerServer s = start(loopback().withTls(new RankerServer.Tls(certs.serverCert(), certs.serverKey(), null)))) {
      ManagedChannel secure = channel(s, tls(null, null));
      ManagedChannel plain = channel(s, InsecureChannelCredentials.create());
      try {
        assertThat(RankerGrpc.newBlockingStub(secure).rank(REQUEST).getCandidatesCount()).isEqualTo(2);
        assertThat(rankCode(plain)).isEqualTo(Status.Code.UNAVAILABLE);
      } finally {
        close(secure);
        close(plain);
      }
    }
  }

  @Test
  void mutualTlsRefusesClientsWithoutACertificateFromTheCa() throws Exception {
    var settings = loopback().withTls(new RankerServer.Tls(certs.serverCert(), certs.serverKey(), certs.ca()));
    try (RankerServer s = start(settings)) {
      ManagedChannel withCert = channel(s, tls(certs.clientCert(), certs.clientKey()));
      ManagedChannel noCert = channel(s, tls(null, null));
      ManagedChannel rogue = channel(s, tls(certs.rogueCert(), certs.rogueKey()));
      try {
        assertThat(rankCode(withCert)).isEqualTo(Status.Code.OK);
        assertThat(rankCode(noCert)).isEqualTo(Status.Code.UNAVAILABLE);
        assertThat(rankCode(rogue)).isEqualTo(Status.Code.UNAVAILABLE);
        // Health needs the handshake too: mutual TLS guards the whole port.
        assertThatThrownBy(() -> HealthGrpc.newBlockingStub(noCert).check(HealthCheckRequest.getDefaultInstance()))
            .isInstanceOf(StatusRuntimeException.class);
      } finally {
        close(withCert);
        close(noCert);
        close(rogue);
      }
    }
  }

  static RankerGrpc.RankerBlockingStub ranker(ManagedChannel ch, String authorization) {
    var stub = RankerGrpc.newBlockingStub(ch);
    if (authorization == null) {
      return stub;
    }
    Metadata h = new Metadata();
    h.put(BearerAuth.AUTHORIZATION, authorization);
    return stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(h));
  }

  static void assertUnauthenticated(RankerGrpc.RankerBlockingStub stub, String message) {
    assertThatThrownBy(() -> stub.rank(REQUEST)).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
      assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
      assertThat(e.getStatus().getDescription()).contains(message);
    });
  }

  @Test
  void bearerTokensGuardRankAndReflectionButNotHealth() throws Exception {
    try (RankerServer s = start(loopback().withTokens(List.of("t0k3n-a", "t0k3n-b")))) {
      ManagedChannel ch = channel(s, InsecureChannelCredentials.create());
      try {
        assertUnauthenticated(ranker(ch, null), "missing credentials: send the header 'authorization: Bearer <token>'");
        assertUnauthenticated(ranker(ch, "Basic dTpw"), "must be 'Bearer <token>'");
        assertUnauthenticated(ranker(ch, "Bearer wrong"), "invalid bearer token");
        assertThat(ranker(ch, "Bearer t0k3n-a").rank(REQUEST).getCandidatesCount()).isEqualTo(2);
        assertThat(ranker(ch, "bearer t0k3n-b").rank(REQUEST).getCandidatesCount()).isEqualTo(2);
        // Unauthenticated calls are counted, and hold no concurrency permit.
        assertThat(s.service().metrics().scrape()).contains("hiformer_rank_errors_total{status=\"UNAUTHENTICATED\"} 3.0");
        assertThat(s.concurrencyLimit().inFlight()).isZero();
        // Probes need no token.
        assertThat(HealthGrpc.newBlockingStub(ch).check(HealthCheckRequest.getDefaultInstance()).getStatus())
            .isEqualTo(ServingStatus.SERVING);
        // Reflection does.
        CompletableFuture<Status> reflection = new CompletableFuture<>();
        var requests = ServerReflectionGrpc.newStub(ch).serverReflectionInfo(new StreamObserver<>() {
          @Override
          public void onNext(io.grpc.reflection.v1.ServerReflectionResponse r) {
            reflection.complete(Status.OK);
          }

          @Override
          public void onError(Throwable t) {
            reflection.complete(Status.fromThrowable(t));
          }

          @Override
          public void onCompleted() {}
        });
        requests.onNext(ServerReflectionRequest.newBuilder().setListServices("").build());
        assertThat(reflection.get(20, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
        requests.onCompleted();
      } finally {
        close(ch);
      }
    }
  }

  /** grpc.reflection.v1alpha (older grpcurl, IDEs) is served and needs a token as v1 does. */
  @Test
  void reflectionV1alphaIsGuardedByTheTokensToo() throws Exception {
    try (RankerServer s = start(loopback().withTokens(List.of("t0k3n-a")))) {
      ManagedChannel ch = channel(s, InsecureChannelCredentials.create());
      try {
        assertThat(listServicesV1alpha(ch, null).getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
        assertThat(listServicesV1alpha(ch, "Bearer t0k3n-a").getCode()).isEqualTo(Status.Code.OK);
      } finally {
        close(ch);
      }
    }
  }

  /** A v1alpha list_services call's status; OK when it listed the Ranker. */
  static Status listServicesV1alpha(ManagedChannel ch, String authorization) throws Exception {
    var stub = io.grpc.reflection.v1alpha.ServerReflectionGrpc.newStub(ch);
    if (authorization != null) {
      Metadata h = new Metadata();
      h.put(BearerAuth.AUTHORIZATION, authorization);
      stub = stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(h));
    }
    CompletableFuture<Status> outcome = new CompletableFuture<>();
    var requests = stub.serverReflectionInfo(new StreamObserver<>() {
      @Override
      public void onNext(io.grpc.reflection.v1alpha.ServerReflectionResponse r) {
        boolean listed = r.getListServicesResponse().getServiceList().stream()
            .anyMatch(x -> x.getName().equals(RankerGrpc.SERVICE_NAME));
        outcome.complete(listed ? Status.OK : Status.NOT_FOUND);
      }

      @Override
      public void onError(Throwable t) {
        outcome.complete(Status.fromThrowable(t));
      }

      @Override
      public void onCompleted() {}
    });
    requests.onNext(io.grpc.reflection.v1alpha.ServerReflectionRequest.newBuilder().setListServices("").build());
    Status status = outcome.get(20, TimeUnit.SECONDS);
    requests.onCompleted();
    return status;
  }

  @Test
  void tokensAreCheckedWhenConfigured() {
    assertThatThrownBy(() -> new BearerAuth(List.of())).hasMessageContaining("at least one token");
    assertThatThrownBy(() -> new BearerAuth(List.of("has space"))).hasMessageContaining("printable ASCII without spaces");
    assertThat(BearerAuth.parseTokens(" a, b\nc ,,")).containsExactly("a", "b", "c");
  }
}
