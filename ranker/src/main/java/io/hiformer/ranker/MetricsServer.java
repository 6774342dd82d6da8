package io.hiformer.ranker;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Objects;

/**
 * Serves a Prometheus scrape ({@link RankerMetrics#scrape()}, or any other) at {@code GET /metrics}
 * with the JDK's HTTP server, on a port of its own (0: an ephemeral one). Other paths answer 404,
 * other methods 405.
 */
public final class MetricsServer implements AutoCloseable {
  public static final int DEFAULT_PORT = 9090;
  static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

  private final HttpServer server;

  private MetricsServer(HttpServer server) {
    this.server = server;
  }

  public static MetricsServer start(InetSocketAddress address, RankerMetrics metrics) throws IOException {
    Objects.requireNonNull(metrics, "metrics");
    return start(address, metrics::scrape);
  }

  /** Serves what {@code scrape} returns at each request (Prometheus text format). */
  public static MetricsServer start(InetSocketAddress address, java.util.function.Supplier<String> scrape)
      throws IOException {
    Objects.requireNonNull(scrape, "scrape");
    HttpServer server = HttpServer.create(address, 0);
    server.createContext("/metrics", exchange -> {
      try (exchange) {
        if (!exchange.getRequestURI().getPath().equals("/metrics")) {
          send(exchange, 404, "not found\n");
        } else if (!exchange.getRequestMethod().equals("GET") && !exchange.getRequestMethod().equals("HEAD")) {
          exchange.getResponseHeaders().set("Allow", "GET, HEAD");
          send(exchange, 405, "method not allowed\n");
        } else {
          exchange.getResponseHeaders().set("Content-Type", CONTENT_TYPE);
          send(exchange, 200, scrape.get());
        }
      }
    });
    server.start();
    return new MetricsServer(server);
  }

  private static void send(HttpExchange exchange, int code, String body) throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    if (exchange.getRequestMethod().equals("HEAD")) {
      exchange.sendResponseHeaders(code, -1);
      return;
    }
    exchange.sendResponseHeaders(code, bytes.length);
    try (OutputStream out = exchange.getResponseBody()) {
      out.write(bytes);
    }
  }

  /** The bound port. */
  public int port() {
    return server.getAddress().getPort();
  }

  @Override
  public void close() {
    server.stop(0);
  }
}
