package io.hiformer.ops;

import io.hiformer.ranker.MetricsServer;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import picocli.CommandLine.Option;

/** Where {@code serve} and {@code joiner} answer HTTP: /metrics, /live and /ready. */
final class MetricsOptions {
  @Option(names = "--metrics-port", defaultValue = "" + MetricsServer.DEFAULT_PORT, paramLabel = "PORT",
      description = "TCP port for Prometheus metrics at GET /metrics and the Kubernetes probes GET /live and"
          + " GET /ready; 0 picks a free one (default: ${DEFAULT-VALUE})")
  int port;

  @Option(names = "--metrics-bind", defaultValue = "0.0.0.0", paramLabel = "ADDRESS",
      description = "address the metrics port listens on, e.g. 127.0.0.1 for this host only (default: ${DEFAULT-VALUE},"
          + " every interface)")
  String bind;

  /** The address to listen on; IllegalArgumentException naming the option when it is not one. */
  InetSocketAddress address() {
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("--metrics-port must be 0 to 65535, got " + port);
    }
    try {
      return new InetSocketAddress(InetAddress.getByName(bind), port);
    } catch (UnknownHostException e) {
      throw new IllegalArgumentException("--metrics-bind " + bind + ": not an address of this host");
    }
  }
}
