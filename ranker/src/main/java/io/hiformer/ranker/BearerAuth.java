package io.hiformer.ranker;

import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * Bearer-token authentication: a call passes when its {@code authorization} header is
 * {@code Bearer <token>} with one of the configured tokens; any other call fails at once with
 * {@code UNAUTHENTICATED} and a description saying what was wrong (never echoing the token).
 * Tokens are compared in constant time. Applied to the Rank and reflection services; health stays
 * open so probes need no token.
 */
public final class BearerAuth implements ServerInterceptor {
  static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
  private static final String PREFIX = "Bearer ";

  private final List<byte[]> tokens = new ArrayList<>();

  /** Accepts any of {@code tokens}; each must be non-empty printable ASCII without spaces. */
  public BearerAuth(Collection<String> tokens) {
    for (String t : tokens) {
      if (t.isEmpty() || !t.chars().allMatch(c -> c > 0x20 && c < 0x7f)) {
        throw new IllegalArgumentException("a bearer token must be non-empty printable ASCII without spaces");
      }
      this.tokens.add(t.getBytes(StandardCharsets.US_ASCII));
    }
    if (this.tokens.isEmpty()) {
      throw new IllegalArgumentException("bearer authentication needs at least one token");
    }
  }

  /** Tokens from a file, one a line; blank lines and lines starting with '#' are skipped. */
  public static List<String> readTokens(Path file) throws IOException {
    return parseTokens(Files.readAllLines(file, StandardCharsets.UTF_8));
  }

  /** Tokens from a comma- or newline-separated text (an environment variable's value). */
  public static List<String> parseTokens(String text) {
    return parseTokens(List.of(text.split("[,\\n]")));
  }

  private static List<String> parseTokens(List<String> lines) {
    List<String> out = new ArrayList<>();
    for (String line : lines) {
      String t = line.strip();
      if (!t.isEmpty() && !t.startsWith("#")) {
        out.add(t);
      }
    }
    return out;
  }

  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
      ServerCallHandler<Q, R> next) {
    String problem = check(headers.get(AUTHORIZATION));
    if (problem != null) {
      call.close(Status.UNAUTHENTICATED.withDescription(problem), new Metadata());
      return new ServerCall.Listener<>() {};
    }
    return next.startCall(call, headers);
  }

  /** Null when {@code header} carries a valid token, else what is wrong with it. */
  private String check(String header) {
    if (header == null) {
      return "missing credentials: send the header 'authorization: Bearer <token>'";
    }
    if (!header.regionMatches(true, 0, PREFIX, 0, PREFIX.length())) {
      return "the authorization header must be 'Bearer <token>'";
    }
    byte[] presented = header.substring(PREFIX.length()).strip().getBytes(StandardCharsets.US_ASCII);
    boolean ok = false;
    for (byte[] t : tokens) {
      ok |= MessageDigest.isEqual(t, presented);
    }
    return ok ? null : "invalid bearer token";
  }
}
