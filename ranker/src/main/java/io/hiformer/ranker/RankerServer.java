package io.hiformer.ranker;

import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import io.hiformer.proto.RankerGrpc;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A Netty gRPC server with the {@link RankService}, the standard health service and server
 * reflection. Health reports {@code SERVING}, overall and for {@code hiformer.v1.Ranker}, as
 * soon as the server starts (it always starts with a loaded model), and {@code NOT_SERVING}
 * once {@link #close()} begins, so load balancers stop sending traffic before it drains.
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
    Objects.requireNonNull(service, "service");
    Objects.requireNonNull(grace, "grace");
    if (maxInboundMessageBytes < 1) {
      throw new IllegalArgumentException("maxInboundMessageBytes must be positive, got " + maxInboundMessageBytes);
    }
    ConcurrencyLimit limit = new ConcurrencyLimit(maxConcurrentCalls);
    HealthStatusManager health = new HealthStatusManager();
    Server server = NettyServerBuilder.forAddress(address)
        .maxInboundMessageSize(maxInboundMessageBytes)
        .addService(ServerInterceptors.intercept(service, limit, service.metrics().interceptor()))
        .addService(health.getHealthService())
        .addService(ProtoReflectionServiceV1.newInstance())
        .build()
        .start();
    RankerServer rs = new RankerServer(server, service, grace, health, limit);
    health.setStatus(HealthStatusManager.SERVICE_NAME_ALL_SERVICES, ServingStatus.SERVING);
    health.setStatus(RankerGrpc.SERVICE_NAME, ServingStatus.SERVING);
    return rs;
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
