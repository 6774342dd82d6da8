package io.hiformer.ranker;

import io.grpc.Server;
import io.grpc.ServerCredentials;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.TlsServerCredentials;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionService;
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
 * reflection ({@code grpc.reflection.v1} and {@code v1alpha}). Health reports {@code SERVING},
 * overall and for {@code hiformer.v1.Ranker}, as soon as the server starts (it always starts with
 * a loaded model) or, with
 * {@link Settings#ready()}, once that completes (e.g. the online feature store has caught up;
 * {@code NOT_SERVING} until then, while calls are already answered), and {@code NOT_SERVING}
 * once {@link #close()} begins, so load balancers stop sending traffic before it drains.
 *
 * <p>{@link Settings} add TLS (a certificate chain and key in PEM files), mutual TLS (a CA file
 * whose certificates clients must present) and bearer-token authentication ({@link BearerAuth},
 * on Rank and reflection; health stays open for probes).
 *
 * <p>No client holds resources without bound: Rank calls take a {@link ConcurrencyLimit} permit
 * once their request has arrived, a call whose request does not arrive within
 * {@link Settings#requestMessageTimeout()} is closed, and {@link Connections} bound what one
 * connection may hold. A request that does not parse is {@code INVALID_ARGUMENT}
 * ({@link RequestParsing}).
 */
final class RankerServer implements AutoCloseable {
  /** The default limit on one request message: room for 1000 candidates with features. */
  public static final int DEFAULT_MAX_INBOUND_MESSAGE_BYTES = 16 * 1024 * 1024;
  public static final Duration DEFAULT_GRACE = Duration.ofSeconds(10);
  /** The default most Rank calls in flight at once; more are shed with RESOURCE_EXHAUSTED. */
  public static final int DEFAULT_MAX_CONCURRENT_CALLS = 64;
  /** The default longest wait for a call's request message after its headers; then it is closed. */
  public static final Duration DEFAULT_REQUEST_MESSAGE_TIMEOUT = Duration.ofSeconds(10);
  /** The default most concurrent calls (HTTP/2 streams) on one client connection. */
  public static final int DEFAULT_MAX_CALLS_PER_CONNECTION = 128;

  private final Server server;
  private final RankService service;
  private final HealthStatusManager health;
  private final Duration grace;
  private final ConcurrencyLimit limit;
  private final RequestMessageTimeout messageTimeout;
  private final AtomicBoolean closing = new AtomicBoolean();

  private RankerServer(Server server, RankService service, Duration grace, HealthStatusManager health,
      ConcurrencyLimit limit, RequestMessageTimeout messageTimeout) {
    this.server = server;
    this.messageTimeout = messageTimeout;
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
   * What one client connection may hold: concurrent calls (HTTP/2 streams) on it, the keep-alive
   * policy (the server pings an idle connection every {@code keepAliveTime} and drops it when no
   * answer comes within {@code keepAliveTimeout}; clients pinging more often than
   * {@code permitKeepAliveTime} are disconnected), connections idle (no call) for
   * {@code maxConnectionIdle} or older than {@code maxConnectionAge} are closed gracefully
   * (calls in flight get {@code maxConnectionAgeGrace}; clients reconnect, which also spreads
   * them over new replicas), and a TLS handshake must end within {@code handshakeTimeout}.
   */
  public record Connections(int maxCallsPerConnection, Duration keepAliveTime, Duration keepAliveTimeout,
      Duration permitKeepAliveTime, Duration maxConnectionIdle, Duration maxConnectionAge,
      Duration maxConnectionAgeGrace, Duration handshakeTimeout) {
    public static final Connections DEFAULTS = new Connections(DEFAULT_MAX_CALLS_PER_CONNECTION,
        Duration.ofMinutes(1), Duration.ofSeconds(20), Duration.ofSeconds(10), Duration.ofMinutes(15),
        Duration.ofMinutes(30), Duration.ofSeconds(30), Duration.ofSeconds(10));

    public Connections {
      if (maxCallsPerConnection < 1) {
        throw new IllegalArgumentException("maxCallsPerConnection must be positive, got " + maxCallsPerConnection);
      }
      for (Duration d : List.of(keepAliveTime, keepAliveTimeout, permitKeepAliveTime, maxConnectionIdle,
          maxConnectionAge, maxConnectionAgeGrace, handshakeTimeout)) {
        if (d.isNegative() || d.isZero()) {
          throw new IllegalArgumentException("connection limits must be positive durations, got " + d);
        }
      }
    }

    public Connections withMaxCallsPerConnection(int n) {
      return new Connections(n, keepAliveTime, keepAliveTimeout, permitKeepAliveTime, maxConnectionIdle,
          maxConnectionAge, maxConnectionAgeGrace, handshakeTimeout);
    }

    void apply(NettyServerBuilder b) {
      b.maxConcurrentCallsPerConnection(maxCallsPerConnection)
          .keepAliveTime(keepAliveTime.toNanos(), TimeUnit.NANOSECONDS)
          .keepAliveTimeout(keepAliveTimeout.toNanos(), TimeUnit.NANOSECONDS)
          .permitKeepAliveTime(permitKeepAliveTime.toNanos(), TimeUnit.NANOSECONDS)
          .maxConnectionIdle(maxConnectionIdle.toNanos(), TimeUnit.NANOSECONDS)
          .maxConnectionAge(maxConnectionAge.toNanos(), TimeUnit.NANOSECONDS)
          .maxConnectionAgeGrace(maxConnectionAgeGrace.toNanos(), TimeUnit.NANOSECONDS)
          .handshakeTimeout(handshakeTimeout.toNanos(), TimeUnit.NANOSECONDS);
    }
  }

  /**
   * How to serve: the address, limits, grace period, how long a call may wait for its request
   * message ({@code requestMessageTimeout}), per-connection limits, and optionally TLS
   * ({@code tls}, nullable), bearer tokens ({@code tokens}, empty: no authentication) and what
   * health waits for before reporting {@code SERVING} ({@code ready}, nullable: nothing).
   */
  public record Settings(InetSocketAddress address, int maxInboundMessageBytes, Duration grace,
      int maxConcurrentCalls, Duration requestMessageTimeout, Connections connections, Tls tls, List<String> tokens,
      CompletionStage<?> ready) {
    public Settings {
      Objects.requireNonNull(address, "address");
      Objects.requireNonNull(grace, "grace");
      Objects.requireNonNull(requestMessageTimeout, "requestMessageTimeout");
      Objects.requireNonNull(connections, "connections");
      tokens = List.copyOf(tokens);
      if (maxInboundMessageBytes < 1) {
        throw new IllegalArgumentException("maxInboundMessageBytes must be positive, got " + maxInboundMessageBytes);
      }
      if (requestMessageTimeout.isNegative() || requestMessageTimeout.isZero()) {
        throw new IllegalArgumentException("requestMessageTimeout must be positive, got " + requestMessageTimeout);
      }
    }

    /** Plaintext, no authentication and the default limits on {@code address}. */
    public static Settings of(InetSocketAddress address) {
      return new Settings(address, DEFAULT_MAX_INBOUND_MESSAGE_BYTES, DEFAULT_GRACE, DEFAULT_MAX_CONCURRENT_CALLS,
          DEFAULT_REQUEST_MESSAGE_TIMEOUT, Connections.DEFAULTS, null, List.of(), null);
    }

    public Settings withLimits(int maxInboundMessageBytes, int maxConcurrentCalls) {
      return new Settings(address, maxInboundMessageBytes, grace, maxConcurrentCalls, requestMessageTimeout,
          connections, tls, tokens, ready);
    }

    public Settings withGrace(Duration g) {
      return new Settings(address, maxInboundMessageBytes, g, maxConcurrentCalls, requestMessageTimeout,
          connections, tls, tokens, ready);
    }

    /** Calls whose request message has not arrived {@code t} after their headers are closed. */
    public Settings withRequestMessageTimeout(Duration t) {
      return new Settings(address, maxInboundMessageBytes, grace, maxConcurrentCalls, t, connections, tls, tokens,
          ready);
    }

    public Settings withConnections(Connections c) {
      return new Settings(address, maxInboundMessageBytes, grace, maxConcurrentCalls, requestMessageTimeout, c,
          tls, tokens, ready);
    }

    public Settings withTls(Tls t) {
      return new Settings(address, maxInboundMessageBytes, grace, maxConcurrentCalls, requestMessageTimeout,
          connections, t, tokens, ready);
    }

    public Settings withTokens(List<String> t) {
      return new Settings(address, maxInboundMessageBytes, grace, maxConcurrentCalls, requestMessageTimeout,
          connections, tls, t, ready);
    }

    /** Health says {@code NOT_SERVING} until {@code r} completes (normally or not), then {@code SERVING}. */
    public Settings withReady(CompletionStage<?> r) {
      return new Settings(address, maxInboundMessageBytes, grace, maxConcurrentCalls, requestMessageTimeout,
          connections, tls, tokens, r);
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
    RequestMessageTimeout messageTimeout = new RequestMessageTimeout(settings.requestMessageTimeout());
    // Interceptors run last-listed first: metrics see every call (and the status its client sees),
    // unauthenticated ones never start, calls take a permit once their request has arrived.
    List<ServerInterceptor> rank = new ArrayList<>(List.of(limit, messageTimeout));
    List<ServerInterceptor> reflection = new ArrayList<>(List.of(messageTimeout));
    if (!settings.tokens().isEmpty()) {
      BearerAuth auth = new BearerAuth(settings.tokens());
      rank.add(auth);
      reflection.add(auth);
    }
    rank.add(service.metrics().interceptor());
    settings.connections().apply(builder);
    Server server;
    try {
      server = builder
          .maxInboundMessageSize(settings.maxInboundMessageBytes())
          .addService(ServerInterceptors.intercept(RequestParsing.wrap(service.bindService()), rank))
          .addService(ServerInterceptors.intercept(health.getHealthService(), messageTimeout))
          .addService(ServerInterceptors.intercept(ProtoReflectionServiceV1.newInstance(), reflection))
          .addService(ServerInterceptors.intercept(reflectionV1alpha(), reflection))
          .build()
          .start();
    } catch (IOException | RuntimeException e) {
      messageTimeout.close();
      throw e;
    }
    RankerServer rs = new RankerServer(server, service, settings.grace(), health, limit, messageTimeout);
    if (settings.ready() != null) {
      settings.ready().whenComplete((ok, failed) -> rs.serving());
    }
    return rs;
  }

  /** {@code grpc.reflection.v1alpha}, which older grpcurl and IDE clients ask for; grpc-java deprecates it for v1. */
  @SuppressWarnings("deprecation")
  private static io.grpc.BindableService reflectionV1alpha() {
    return ProtoReflectionService.newInstance();
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
    messageTimeout.close();
  }
}
