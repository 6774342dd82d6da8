package io.hiformer.ranker;

import io.grpc.Attributes;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.SecurityLevel;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServiceDescriptor;
import io.grpc.Status;
import java.io.InputStream;
import java.time.Duration;

/**
 * Answers a request message that does not parse with {@code INVALID_ARGUMENT} and one brief,
 * rate-limited warning. gRPC itself parses requests outside the call: a parse failure there
 * reaches the client as {@code UNKNOWN}, logs a stack trace a call and bypasses the interceptors,
 * so metrics count another status than the client sees. {@link #wrap} moves parsing into the
 * call, where the failure closes it through the interceptors like any other answer.
 */
final class RequestParsing {
  private static final RateLimitedLog LOG =
      new RateLimitedLog(System.getLogger(RequestParsing.class.getName()), Duration.ofSeconds(10));

  private RequestParsing() {}

  /** {@code service} with every method's request parsed inside the call. */
  static ServerServiceDefinition wrap(ServerServiceDefinition service) {
    ServiceDescriptor original = service.getServiceDescriptor();
    ServiceDescriptor.Builder descriptor = ServiceDescriptor.newBuilder(original.getName())
        .setSchemaDescriptor(original.getSchemaDescriptor());
    java.util.List<ServerMethodDefinition<?, ?>> methods = new java.util.ArrayList<>();
    for (ServerMethodDefinition<?, ?> m : service.getMethods()) {
      ServerMethodDefinition<?, ?> wrapped = wrap(m);
      descriptor.addMethod(wrapped.getMethodDescriptor());
      methods.add(wrapped);
    }
    ServerServiceDefinition.Builder out = ServerServiceDefinition.builder(descriptor.build());
    methods.forEach(out::addMethod);
    return out.build();
  }

  private static <Q, R> ServerMethodDefinition<Parsed<Q>, R> wrap(ServerMethodDefinition<Q, R> definition) {
    MethodDescriptor<Q, R> method = definition.getMethodDescriptor();
    MethodDescriptor<Parsed<Q>, R> parsing = method.toBuilder(new ParsingMarshaller<>(method.getRequestMarshaller()),
        method.getResponseMarshaller()).build();
    ServerCallHandler<Q, R> handler = definition.getServerCallHandler();
    return ServerMethodDefinition.create(parsing, (call, headers) -> {
      ServerCall.Listener<Q> listener = handler.startCall(new Unwrapping<>(call, method), headers);
      return new Checking<>(call, listener);
    });
  }

  /** A request message as parsed: its value, or why it did not parse. */
  record Parsed<Q>(Q value, RuntimeException failure) {}

  /** Never throws on a message that does not parse: the call answers it. */
  private record ParsingMarshaller<Q>(MethodDescriptor.Marshaller<Q> marshaller)
      implements MethodDescriptor.Marshaller<Parsed<Q>> {
    @Override
    public InputStream stream(Parsed<Q> value) {
      return marshaller.stream(value.value());
    }

    @Override
    public Parsed<Q> parse(InputStream stream) {
      try {
        return new Parsed<>(marshaller.parse(stream), null);
      } catch (RuntimeException e) {
        return new Parsed<>(null, e);
      }
    }
  }

  /** Closes the call on a message that did not parse; hands the service the ones that did. */
  private static final class Checking<Q, R> extends ServerCall.Listener<Parsed<Q>> {
    private final ServerCall<Parsed<Q>, R> call;
    private final ServerCall.Listener<Q> listener;
    private boolean refused;

    Checking(ServerCall<Parsed<Q>, R> call, ServerCall.Listener<Q> listener) {
      this.call = call;
      this.listener = listener;
    }

    @Override
    public void onMessage(Parsed<Q> message) {
      if (refused) {
        return;
      }
      if (message.failure() != null) {
        refused = true;
        String method = call.getMethodDescriptor().getFullMethodName();
        String why = reason(message.failure());
        LOG.warn(() -> "malformed request message for " + method + " refused: " + why);
        call.close(Status.INVALID_ARGUMENT.withDescription("the request message is not a valid "
            + method + " request: " + why), new Metadata());
        return;
      }
      listener.onMessage(message.value());
    }

    /** The first sentence of the innermost cause's message (the parser's own words). */
    private static String reason(Throwable failure) {
      Throwable t = failure;
      while (t.getCause() != null && t.getCause() != t) {
        t = t.getCause();
      }
      String m = t.getMessage() != null ? t.getMessage() : t.getClass().getSimpleName();
      int sentence = m.indexOf(". ");
      return Echo.of(sentence > 0 ? m.substring(0, sentence + 1) : m, 200);
    }

    @Override
    public void onHalfClose() {
      if (!refused) {
        listener.onHalfClose();
      }
    }

    @Override
    public void onCancel() {
      listener.onCancel();
    }

    @Override
    public void onComplete() {
      listener.onComplete();
    }

    @Override
    public void onReady() {
      listener.onReady();
    }
  }

  /** The call as the service knows it: typed by its own request message. */
  private static final class Unwrapping<Q, R> extends ServerCall<Q, R> {
    private final ServerCall<Parsed<Q>, R> call;
    private final MethodDescriptor<Q, R> method;

    Unwrapping(ServerCall<Parsed<Q>, R> call, MethodDescriptor<Q, R> method) {
      this.call = call;
      this.method = method;
    }

    @Override
    public void request(int numMessages) {
      call.request(numMessages);
    }

    @Override
    public void sendHeaders(Metadata headers) {
      call.sendHeaders(headers);
    }

    @Override
    public void sendMessage(R message) {
      call.sendMessage(message);
    }

    @Override
    public boolean isReady() {
      return call.isReady();
    }

    @Override
    public void close(Status status, Metadata trailers) {
      call.close(status, trailers);
    }

    @Override
    public boolean isCancelled() {
      return call.isCancelled();
    }

    @Override
    public void setMessageCompression(boolean enabled) {
      call.setMessageCompression(enabled);
    }

    @Override
    public void setCompression(String compressor) {
      call.setCompression(compressor);
    }

    @Override
    public void setOnReadyThreshold(int numBytes) {
      call.setOnReadyThreshold(numBytes);
    }

    @Override
    public SecurityLevel getSecurityLevel() {
      return call.getSecurityLevel();
    }

    @Override
    public Attributes getAttributes() {
      return call.getAttributes();
    }

    @Override
    public String getAuthority() {
      return call.getAuthority();
    }

    @Override
    public MethodDescriptor<Q, R> getMethodDescriptor() {
      return method;
    }
  }
}
