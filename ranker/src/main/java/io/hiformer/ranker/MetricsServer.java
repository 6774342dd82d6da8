package io.hiformer.ranker;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * The HTTP port of a ranker or joiner, on an address of its own (port 0: an ephemeral one):
 * <ul>
 *   <li>{@code GET /metrics}: a Prometheus scrape ({@link RankerMetrics#scrape()}, or any other);
 *   <li>{@code GET /live}: 200 while the process answers (a Kubernetes liveness probe);
 *   <li>{@code GET /ready}: 200 when the service is ready for traffic, else 503 (a readiness probe).
 * </ul>
 * Other paths answer 404, other methods 405, anything unparseable 400; every answer closes its
 * connection.
 *
 * <p>No client can hold it: each connection is served on a virtual thread, at most {@value
 * #MAX_CONNECTIONS} at once (more are closed at once), and one that has not sent its request
 * within the request timeout, or not taken its answer within twice that, is closed. A small
 * server of its own rather than the JDK's {@code com.sun.net.httpserver}: that one reads a
 * request on its single dispatcher thread unless given an executor, and its only request
 * timeout is a JVM-wide system property read once ({@code sun.net.httpserver.maxReqTime}).
 */
public final class MetricsServer implements AutoCloseable {
  public static final int DEFAULT_PORT = 9090;
  static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
  static final int MAX_CONNECTIONS = 64;
  static final Duration DEFAULT_REQUEST_TIMEOUT = Duration.ofSeconds(5);
  private static final int MAX_HEAD_BYTES = 8192;
  private static final System.Logger LOG = System.getLogger(MetricsServer.class.getName());

  private final ServerSocket socket;
  private final Supplier<String> scrape;
  private final BooleanSupplier ready;
  private final Duration requestTimeout;
  private final Semaphore connections = new Semaphore(MAX_CONNECTIONS);
  /** Closes connections past their deadline; closing a socket ends a blocked read or write. */
  private final ScheduledExecutorService deadlines = Executors.newSingleThreadScheduledExecutor(r -> {
    Thread t = new Thread(r, "hiformer-metrics-deadlines");
    t.setDaemon(true);
    return t;
  });
  private final Thread acceptor;

  private MetricsServer(ServerSocket socket, Supplier<String> scrape, BooleanSupplier ready, Duration requestTimeout) {
    this.socket = socket;
    this.scrape = scrape;
    this.ready = ready;
    this.requestTimeout = requestTimeout;
    this.acceptor = Thread.ofPlatform().name("hiformer-metrics-accept").daemon().unstarted(this::accept);
  }

  /** Serves {@code metrics} at /metrics; /ready always answers 200. */
  public static MetricsServer start(InetSocketAddress address, RankerMetrics metrics) throws IOException {
    Objects.requireNonNull(metrics, "metrics");
    return start(address, metrics::scrape, () -> true);
  }

  /**
   * Serves what {@code scrape} returns at each /metrics request (Prometheus text format), and at
   * /ready 200 while {@code ready} says true, else 503.
   */
  public static MetricsServer start(InetSocketAddress address, Supplier<String> scrape, BooleanSupplier ready)
      throws IOException {
    return start(address, scrape, ready, DEFAULT_REQUEST_TIMEOUT);
  }

  static MetricsServer start(InetSocketAddress address, Supplier<String> scrape, BooleanSupplier ready,
      Duration requestTimeout) throws IOException {
    Objects.requireNonNull(scrape, "scrape");
    Objects.requireNonNull(ready, "ready");
    ServerSocket socket = new ServerSocket();
    try {
      socket.setReuseAddress(true);
      socket.bind(address, MAX_CONNECTIONS);
    } catch (IOException e) {
      socket.close();
      throw new IOException("cannot listen for metrics on " + address + ": " + e.getMessage(), e);
    }
    MetricsServer server = new MetricsServer(socket, scrape, ready, requestTimeout);
    server.acceptor.start();
    return server;
  }

  private void accept() {
    while (!socket.isClosed()) {
      Socket client;
      try {
        client = socket.accept();
      } catch (IOException e) {
        if (!socket.isClosed()) {
          LOG.log(System.Logger.Level.WARNING, "metrics server: accept failed: " + e);
        }
        continue;
      }
      if (!connections.tryAcquire()) {
        closeQuietly(client); // all slots held: this client retries, the holders time out
        continue;
      }
      Thread.ofVirtual().name("hiformer-metrics-conn").start(() -> {
        try {
          serve(client);
        } finally {
          connections.release();
        }
      });
    }
  }

  private void serve(Socket client) {
    long timeoutMs = requestTimeout.toMillis();
    ScheduledFuture<?> deadline;
    try {
      deadline = deadlines.schedule(() -> closeQuietly(client), 2 * timeoutMs, TimeUnit.MILLISECONDS);
    } catch (java.util.concurrent.RejectedExecutionException closing) {
      closeQuietly(client);
      return;
    }
    try (client) {
      client.setSoTimeout((int) timeoutMs);
      String head = readHead(new java.io.BufferedInputStream(client.getInputStream()),
          System.nanoTime() + timeoutMs * 1_000_000);
      OutputStream out = client.getOutputStream();
      if (head == null) {
        respond(out, false, 400, "Bad Request", "text/plain; charset=utf-8", "bad request\n");
        return;
      }
      String[] line = head.substring(0, head.indexOf('\n')).strip().split(" ");
      if (line.length != 3 || !line[2].startsWith("HTTP/")) {
        respond(out, false, 400, "Bad Request", "text/plain; charset=utf-8", "bad request\n");
        return;
      }
      String method = line[0];
      String path = line[1].contains("?") ? line[1].substring(0, line[1].indexOf('?')) : line[1];
      boolean headOnly = method.equals("HEAD");
      if (!path.equals("/metrics") && !path.equals("/live") && !path.equals("/ready")) {
        respond(out, headOnly, 404, "Not Found", "text/plain; charset=utf-8", "not found\n");
      } else if (!method.equals("GET") && !headOnly) {
        respond(out, false, 405, "Method Not Allowed", "text/plain; charset=utf-8", "method not allowed\n");
      } else if (path.equals("/metrics")) {
        respond(out, headOnly, 200, "OK", CONTENT_TYPE, scrape.get());
      } else if (path.equals("/live")) {
        respond(out, headOnly, 200, "OK", "text/plain; charset=utf-8", "live\n");
      } else if (ready.getAsBoolean()) {
        respond(out, headOnly, 200, "OK", "text/plain; charset=utf-8", "ready\n");
      } else {
        respond(out, headOnly, 503, "Service Unavailable", "text/plain; charset=utf-8", "not ready\n");
      }
    } catch (IOException | RuntimeException e) {
      // A client that stalled, went away or was cut off at its deadline: nothing to answer.
      if (!(e instanceof SocketException) && !(e instanceof java.net.SocketTimeoutException)) {
        LOG.log(System.Logger.Level.DEBUG, "metrics server: " + e);
      }
    } finally {
      deadline.cancel(false);
    }
  }

  /**
   * The request line and headers (up to the blank line), or null when they are malformed or
   * longer than {@value #MAX_HEAD_BYTES} bytes; throws SocketTimeoutException past {@code deadline}.
   */
  private static String readHead(InputStream in, long deadline) throws IOException {
    byte[] buf = new byte[MAX_HEAD_BYTES];
    int n = 0;
    while (n < buf.length) {
      if (System.nanoTime() > deadline) {
        throw new java.net.SocketTimeoutException("request not received in time");
      }
      int b = in.read();
      if (b < 0) {
        return null;
      }
      buf[n++] = (byte) b;
      if (n >= 2 && buf[n - 1] == '\n' && (buf[n - 2] == '\n' || (n >= 4 && buf[n - 2] == '\r' && buf[n - 3] == '\n'))) {
        return new String(buf, 0, n, StandardCharsets.ISO_8859_1);
      }
    }
    return null;
  }

  private static void respond(OutputStream out, boolean headOnly, int code, String reason, String type, String body)
      throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    String head = "HTTP/1.1 " + code + " " + reason + "\r\nContent-Type: " + type + "\r\nContent-Length: "
        + bytes.length + "\r\n" + (code == 405 ? "Allow: GET, HEAD\r\n" : "") + "Connection: close\r\n\r\n";
    out.write(head.getBytes(StandardCharsets.ISO_8859_1));
    if (!headOnly) {
      out.write(bytes);
    }
    out.flush();
  }

  private static void closeQuietly(Socket s) {
    try {
      s.close();
    } catch (IOException ignored) {
      // closing anyway
    }
  }

  /** The bound port. */
  public int port() {
    return socket.getLocalPort();
  }

  @Override
  public void close() {
    try {
      socket.close();
    } catch (IOException ignored) {
      // closing anyway
    }
    deadlines.shutdownNow();
    try {
      acceptor.join(5000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
