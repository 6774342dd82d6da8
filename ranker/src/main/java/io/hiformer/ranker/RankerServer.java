package io.hiformer.ranker;

import io.grpc.Server;
import io.grpc.ServerCredentials;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.TlsServerCredentials;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import io.hiformer.proto.RankerGrpc;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A Netty gRPC server with the {@link RankService}, the standard health service and server
 * reflection. Health reports {@code SERVING}, overall and for {@code hiformer.v1.Ranker}, as
 * soon as the server starts (it always starts with a loaded model) or, with
 * {@link Settings#ready()}, once that completes (e.g. the online feature store has caught up;
 * {@code NOT_SERVING} until then, while calls are already answered), and {@code NOT_SERVING}
 * once {@link #close()} begins, so load balancers stop sending traffic before it drains.
 *
 * <p>{@link Settings} add TLS (a certificate chain and key in PEM files), mutual TLS (a CA file
 * whose certificates clients must present) and bearer-token authentication ({@link BearerAuth},
 * on Rank and reflection; health stays open for probes).
 */
public final class RankerServer implements AutoCloseable {
  /** The default limit on one request message: room for 1000 candidates with features. */
  public static final int DEFAULT_MAX_INBOUND_MESSAGE_BYTES = 16 * 1024 * 1024;
  public static final Duration DEFAULT_GRACE = Duration.ofSeconds(10);
  /** The default most Rank calls in flight at once; more are shed with RESOURCE_EXHAUSTED. */
  public static final int DEFAULT_MAX_CONCURRENT_CALLS = 64;

  private final Server server;
  private final RankService service;
  private final HealthStatusManager health;
  private final Duration grace;
  private final ConcurrencyLimit limit;
  private final AtomicBoolean closing = new AtomicBoolean();

  private RankerServer(Server server, RankService service, Duration grace, HealthStatusManager health,
      ConcurrencyLimit limit) {
    this.server = server;
    this.limit = limit;
    this.service = service;
    this.grace = grace;
    this.health = health;
  }

  /**
   * TLS from PEM files: the server's certificate chain and its PKCS#8 private key; with
   * {@code clientCa} (nullable), mutual TLS: clients must present a certificate that CA signed.
   */
  public record Tls(Path certChain, Path privateKey, Path clientCa) {
    public Tls {
      Objects.requireNonNull(certChain, "certChain");
      Objects.requireNonNull(privateKey, "privateKey");
    }

    ServerCredentials credentials() throws IOException {
      TlsServerCredentials.Builder b = TlsServerCredentials.newBuilder()
          .keyManager(certChain.toFile(), privateKey.toFile());
      if (clientCa != null) {
        b.trustManager(clientCa.toFile()).clientAuth(TlsServerCredentials.ClientAuth.REQUIRE);
      }
      return b.build();
    }
  }

  /**
   * How to serve: the address, limits, grace period, and optionally TLS ({@code tls}, nullable),
   * bearer tokens ({@code tokens}, empty: no authentication) and what health waits for before
   * reporting {@code SERVING} ({@code ready}, nullable: nothing).
   */
  public record Settings(InetSocketAddress address, int maxInboundMessageBytes, Duration grace,
      int maxConcurrentCalls, Tls tls, List<String> tokens, CompletionStage<?> ready) {
    public Settings {
      Objects.requireNonNull(address, "address");
      Objects.requireNonNull(grace, "grace");
      tokens = List.copyOf(tokens);
      if (maxInboundMessageBytes < 1) {
        throw new IllegalArgumentException("maxInboundMessageBytes must be positive, got " + maxInboundMessageBytes);
      }
    }

    /** Plaintext, no authentication and the default limits on {@code address}. */
    public static Settings of(InetSocketAddress address) {
      return new Settings(address, DEFAULT_MAX_INBOUND_MESSAGE_BYTES, DEFAULT_GRACE, DEFAULT_MAX_CONCURRENT_CALLS,
          null, List.of(), null);
    }

    public Settings withLimits(int maxInboundMessageBytes, int maxConcurrentCalls) {
      return new Settings(address, maxInboundMessageBytes, grace, maxConcurrentCalls, tls, tokens, ready);
    }

    public Settings withGrace(Duration g) {
      return new Settings(address, maxInboundMessageBytes, g, maxConcurrentCalls, tls, tokens, ready);
    }

    public Settings withTls(Tls t) {
      return new Settings(address, maxInboundMessageBytes, grace, maxConcurrentCalls, t, tokens, ready);
    }

    public Settings withTokens(List<String> t) {
      return new Settings(address, maxInboundMessageBytes, grace, maxConcurrentCalls, tls, t, ready);
    }

    /** Health says {@code NOT_SERVING} until {@code r} completes (normally or not), then {@code SERVING}. */
    public Settings withReady(CompletionStage<?> r) {
      return new Settings(address, maxInboundMessageBytes, grace, maxConcurrentCalls, tls, tokens, r);
    }
  }

  /** Starts serving {@code service} on {@code port} of all interfaces (0: an ephemeral port). */
  public static RankerServer start(int port, RankService service) throws IOException {
    return start(new InetSocketAddress(port), service, DEFAULT_MAX_INBOUND_MESSAGE_BYTES, DEFAULT_GRACE);
  }

  /**
   * Starts serving {@code service} on {@code address}.
   *
   * @param maxInboundMessageBytes larger requests fail with RESOURCE_EXHAUSTED
   * @param grace how long {@link #close()} waits for calls in flight before cancelling them
   */
  public static RankerServer start(InetSocketAddress address, RankService service, int maxInboundMessageBytes,
      Duration grace) throws IOException {
    return start(address, service, maxInboundMessageBytes, grace, DEFAULT_MAX_CONCURRENT_CALLS);
  }

  /**
   * Starts serving {@code service} on {@code address}.
   *
   * @param maxInboundMessageBytes larger requests fail with RESOURCE_EXHAUSTED
   * @param grace how long {@link #close()} waits for calls in flight before cancelling them
   * @param maxConcurrentCalls the most Rank calls in flight at once; more fail at once with
   *     RESOURCE_EXHAUSTED (health and reflection are not limited)
   */
  public static RankerServer start(InetSocketAddress address, RankService service, int maxInboundMessageBytes,
      Duration grace, int maxConcurrentCalls) throws IOException {
    return start(Settings.of(address).withLimits(maxInboundMessageBytes, maxConcurrentCalls).withGrace(grace), service);
  }

  /** Starts serving {@code service} as {@code settings} say. */
  public static RankerServer start(Settings settings, RankService service) throws IOException {
    Objects.requireNonNull(service, "service");
    ConcurrencyLimit limit = new ConcurrencyLimit(settings.maxConcurrentCalls());
    HealthStatusManager health = new HealthStatusManager();
    ServingStatus initial = settings.ready() == null ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
    health.setStatus(HealthStatusManager.SERVICE_NAME_ALL_SERVICES, initial);
    health.setStatus(RankerGrpc.SERVICE_NAME, initial);
    NettyServerBuilder builder = settings.tls() == null
        ? NettyServerBuilder.forAddress(settings.address())
        : NettyServerBuilder.forAddress(settings.address(), settings.tls().credentials());
    // Interceptors run last-listed first: metrics see every call, unauthenticated ones take no permit.
    List<ServerInterceptor> rank = new ArrayList<>(List.of(limit));
    List<ServerInterceptor> reflection = new ArrayList<>();
    if (!settings.tokens().isEmpty()) {
      BearerAuth auth = new BearerAuth(settings.tokens());
      rank.add(auth);
      reflection.add(auth);
    }
    rank.add(service.metrics().interceptor());
    Server server = builder
        .maxInboundMessageSize(settings.maxInboundMessageBytes())
        .addService(ServerInterceptors.intercept(service, rank))
        .addService(health.getHealthService())
        .addService(ServerInterceptors.intercept(ProtoReflectionServiceV1.newInstance(), reflection))
        .build()
        .start();
    RankerServer rs = new RankerServer(server, service, settings.grace(), health, limit);
    if (settings.ready() != null) {
      settings.ready().whenComplete((ok, failed) -> rs.serving());
    }
    return rs;
  }

  /** Reports SERVING unless closing (health in its terminal state ignores updates anyway). */
  private void serving() {
    if (!closing.get()) {
      health.setStatus(HealthStatusManager.SERVICE_NAME_ALL_SERVICES, ServingStatus.SERVING);
      health.setStatus(RankerGrpc.SERVICE_NAME, ServingStatus.SERVING);
    }
  }

  /** The port the server is bound to (the ephemeral one it got when started with port 0). */
  public int port() {
    return server.getPort();
  }

  /** The limit on Rank calls in flight. */
  public ConcurrencyLimit concurrencyLimit() {
    return limit;
  }

  public RankService service() {
    return service;
  }

  /** Blocks until the server has terminated. */
  public void awaitTermination() throws InterruptedException {
    server.awaitTermination();
  }

  /**
   * Stops taking new calls, waits up to the grace period for calls in flight to finish, then
   * cancels any left. Idempotent.
   */
  @Override
  public void close() {
    if (closing.compareAndSet(false, true)) {
      health.enterTerminalState();
    }
    server.shutdown();
    try {
      if (!server.awaitTermination(grace.toMillis(), TimeUnit.MILLISECONDS)) {
        server.shutdownNow();
        server.awaitTermination(grace.toMillis(), TimeUnit.MILLISECONDS);
      }
    } catch (InterruptedException e) {
      server.shutdownNow();
      Thread.currentThread().interrupt();
    }
  }
}
