package io.hiformer.ranker;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/** The metrics port on a real loopback socket, with clients that stall. */
class MetricsServerTest {
  static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();

  static HttpResponse<String> get(HttpClient http, int port, String path, Duration timeout) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create("http://" + LOOPBACK.getHostAddress() + ":" + port + path))
        .timeout(timeout).GET().build(), HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void clientsSendingHalfARequestDoNotBlockOthers() throws Exception {
    List<Socket> stalled = new ArrayList<>();
    try (MetricsServer server = MetricsServer.start(new InetSocketAddress(LOOPBACK, 0), () -> "up 1\n", () -> true);
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build()) {
      for (int i = 0; i < 8; i++) {
        Socket s = new Socket(LOOPBACK, server.port());
        s.getOutputStream().write("GET /metr".getBytes(StandardCharsets.US_ASCII));
        s.getOutputStream().flush();
        stalled.add(s);
      }
      Thread.sleep(200); // the half requests have arrived and are being read
      // Well under the request timeout (5 s): the answer did not wait for a stalled client.
      long start = System.nanoTime();
      HttpResponse<String> r = get(http, server.port(), "/metrics", Duration.ofSeconds(3));
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(r.body()).isEqualTo("up 1\n");
      assertThat(r.headers().firstValue("Content-Type")).hasValue(MetricsServer.CONTENT_TYPE);
      assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(3));
      assertThat(get(http, server.port(), "/live", Duration.ofSeconds(3)).statusCode()).isEqualTo(200);
    } finally {
      for (Socket s : stalled) {
        s.close();
      }
    }
  }

  @Test
  void aStalledClientIsClosedAfterTheRequestTimeout() throws Exception {
    try (MetricsServer server = MetricsServer.start(new InetSocketAddress(LOOPBACK, 0), () -> "", () -> true,
        Duration.ofMillis(300));
        Socket s = new Socket(LOOPBACK, server.port())) {
      s.setSoTimeout(10_000);
      OutputStream out = s.getOutputStream();
      out.write("GET /metrics HTTP/1.1\r\nHost: x\r\n".getBytes(StandardCharsets.US_ASCII));
      out.flush();
      InputStream in = s.getInputStream();
      assertThat(in.read()).as("the server closed the connection").isEqualTo(-1);
    }
  }

  @Test
  void readyFollowsItsSupplierAndOtherPathsAndMethodsAreRefused() throws Exception {
    AtomicBoolean ready = new AtomicBoolean(false);
    try (MetricsServer server = MetricsServer.start(new InetSocketAddress(LOOPBACK, 0), () -> "", ready::get);
        HttpClient http = HttpClient.newHttpClient()) {
      Duration t = Duration.ofSeconds(10);
      assertThat(get(http, server.port(), "/ready", t).statusCode()).isEqualTo(503);
      assertThat(get(http, server.port(), "/live", t).statusCode()).isEqualTo(200);
      ready.set(true);
      assertThat(get(http, server.port(), "/ready", t).statusCode()).isEqualTo(200);
      assertThat(get(http, server.port(), "/other", t).statusCode()).isEqualTo(404);
      HttpResponse<String> post = http.send(HttpRequest.newBuilder(URI.create("http://" + LOOPBACK.getHostAddress()
          + ":" + server.port() + "/metrics")).POST(HttpRequest.BodyPublishers.ofString("x")).build(),
          HttpResponse.BodyHandlers.ofString());
      assertThat(post.statusCode()).isEqualTo(405);
      try (Socket s = new Socket(LOOPBACK, server.port())) {
        s.getOutputStream().write("nonsense\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
        assertThat(new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII)).startsWith("HTTP/1.1 400");
      }
    }
  }
}
