package io.hiformer.ranker;

import static io.hiformer.ranker.RankServiceTest.dense;
import static io.hiformer.ranker.RankServiceTest.item;
import static io.hiformer.ranker.RankServiceTest.request;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.reflection.v1alpha.ServerReflectionGrpc;
import io.grpc.reflection.v1alpha.ServerReflectionRequest;
import io.grpc.reflection.v1alpha.ServerReflectionResponse;
import io.grpc.stub.StreamObserver;
import io.hiformer.model.ModelRegistry;
import io.hiformer.proto.Candidate;
import io.hiformer.proto.RankRequest;
import io.hiformer.proto.RankerGrpc;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a hostile or careless client sends, against a real server on a loopback port through raw
 * gRPC calls: streams that never send their request, bytes that are no request, megabyte-long
 * values, a {@code top_k} beyond the signed range.
 */
class HostileClientTest {
  @TempDir
  static Path dir;

  static LoadedModel model;
  final List<ManagedChannel> channels = new ArrayList<>();
  RankerServer server;

  /** Rank as raw bytes, so a test can send anything or nothing. */
  static final MethodDescriptor<byte[], byte[]> RAW_RANK = MethodDescriptor.<byte[], byte[]>newBuilder()
      .setType(MethodDescriptor.MethodType.UNARY)
      .setFullMethodName(RankerGrpc.getRankMethod().getFullMethodName())
      .setRequestMarshaller(Bytes.INSTANCE)
      .setResponseMarshaller(Bytes.INSTANCE)
      .build();

  /**
   * The same method as a client-streaming one: a client flushes a unary call's headers only with
   * its message, a streaming call's at once.
   */
  static final MethodDescriptor<byte[], byte[]> RAW_RANK_STREAM =
      RAW_RANK.toBuilder().setType(MethodDescriptor.MethodType.CLIENT_STREAMING).build();

  enum Bytes implements MethodDescriptor.Marshaller<byte[]> {
    INSTANCE;

    @Override
    public InputStream stream(byte[] value) {
      return new ByteArrayInputStream(value);
    }

    @Override
    public byte[] parse(InputStream stream) {
      try {
        return stream.readAllBytes();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }

  @BeforeAll
  static void load() throws IOException {
    ModelRegistry registry = ModelRegistry.open(dir.resolve("registry"));
    TinyModels.publish(registry, 1);
    model = LoadedModel.load(registry, registry.version(TinyModels.NAME, 1), 1);
  }

  @AfterAll
  static void unload() {
    model.close();
  }

  @AfterEach
  void stop() throws InterruptedException {
    for (ManagedChannel ch : channels) {
      ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    if (server != null) {
      server.close();
    }
  }

  RankerServer start(RankerServer.Settings settings) throws IOException {
    server = RankerServer.start(settings, new RankService(model));
    return server;
  }

  static RankerServer.Settings loopback() {
    return RankerServer.Settings.of(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
        .withGrace(Duration.ofSeconds(2));
  }

  /** A new connection to the server. */
  ManagedChannel connect() {
    ManagedChannel ch = ManagedChannelBuilder.forAddress(InetAddress.getLoopbackAddress().getHostAddress(), server.port())
        .usePlaintext().build();
    channels.add(ch);
    return ch;
  }

  static RankRequest small() {
    return request("u1", item("i0", 3), item("i1", 5)).build();
  }

  /** Opens a Rank stream that sends its headers and never its request; completes with its status. */
  static CompletableFuture<Status> headersOnly(ManagedChannel ch) {
    CompletableFuture<Status> closed = new CompletableFuture<>();
    ClientCall<byte[], byte[]> call = ch.newCall(RAW_RANK_STREAM, CallOptions.DEFAULT);
    call.start(new ClientCall.Listener<>() {
      @Override
      public void onClose(Status status, Metadata trailers) {
        closed.complete(status);
      }
    }, new Metadata());
    call.request(1);
    return closed;
  }

  /** Sends {@code body} as a Rank request; the status the client sees. */
  static Status raw(ManagedChannel ch, byte[] body) throws Exception {
    CompletableFuture<Status> closed = new CompletableFuture<>();
    ClientCall<byte[], byte[]> call = ch.newCall(RAW_RANK, CallOptions.DEFAULT.withDeadlineAfter(20, TimeUnit.SECONDS));
    call.start(new ClientCall.Listener<>() {
      @Override
      public void onClose(Status status, Metadata trailers) {
        closed.complete(status);
      }
    }, new Metadata());
    call.request(1);
    call.sendMessage(body);
    call.halfClose();
    return closed.get(30, TimeUnit.SECONDS);
  }

  @Test
  void headerOnlyStreamsOnOneConnectionDoNotShutOutOtherCallers() throws Exception {
    start(loopback().withRequestMessageTimeout(Duration.ofMinutes(5)));
    ManagedChannel attacker = connect();
    List<CompletableFuture<Status>> streams = new ArrayList<>();
    for (int i = 0; i < RankerServer.DEFAULT_MAX_CONCURRENT_CALLS; i++) {
      streams.add(headersOnly(attacker));
    }
    // A call on the same connection after them: the server has seen their headers once it answers.
    try {
      RankerGrpc.newBlockingStub(attacker).withDeadlineAfter(20, TimeUnit.SECONDS).rank(small());
    } catch (StatusRuntimeException shedBeforeTheFix) {
      // its status is not the point
    }
    assertThat(streams).noneMatch(CompletableFuture::isDone);

    var other = RankerGrpc.newBlockingStub(connect()).withDeadlineAfter(20, TimeUnit.SECONDS);
    assertThat(other.rank(small()).getCandidatesCount()).isEqualTo(2);
    assertThat(server.concurrencyLimit().inFlight()).isZero();
  }

  @Test
  void streamsThatNeverSendTheirRequestAreClosedAfterTheBound() throws Exception {
    start(loopback().withRequestMessageTimeout(Duration.ofMillis(500)));
    ManagedChannel attacker = connect();
    List<CompletableFuture<Status>> streams = new ArrayList<>();
    for (int i = 0; i < RankerServer.DEFAULT_MAX_CONCURRENT_CALLS; i++) {
      streams.add(headersOnly(attacker));
    }
    for (CompletableFuture<Status> s : streams) {
      Status status = s.get(30, TimeUnit.SECONDS);
      assertThat(status.getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
      assertThat(status.getDescription()).isEqualTo("no request message arrived within 500 ms of the call's headers");
    }
    // Calls that do send their request are not affected, on that connection or another.
    assertThat(RankerGrpc.newBlockingStub(attacker).rank(small()).getCandidatesCount()).isEqualTo(2);
    assertThat(RankerGrpc.newBlockingStub(connect()).rank(small()).getCandidatesCount()).isEqualTo(2);
    assertThat(server.service().metrics().scrape())
        .contains("hiformer_rank_errors_total{status=\"DEADLINE_EXCEEDED\"} 64.0");
  }

  @Test
  void oneConnectionHoldsAtMostItsShareOfStreams() throws Exception {
    start(loopback().withConnections(RankerServer.Connections.DEFAULTS.withMaxCallsPerConnection(4))
        .withRequestMessageTimeout(Duration.ofMinutes(5)));
    ManagedChannel attacker = connect();
    // One call first, so the client has the server's SETTINGS (its stream limit) before the streams open.
    assertThat(RankerGrpc.newBlockingStub(attacker).rank(small()).getCandidatesCount()).isEqualTo(2);
    List<CompletableFuture<Status>> streams = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      streams.add(headersOnly(attacker));
    }
    // A fifth stream on that connection is not opened (the client waits for room) ...
    assertThatThrownBy(() -> RankerGrpc.newBlockingStub(attacker).withDeadlineAfter(2, TimeUnit.SECONDS).rank(small()))
        .isInstanceOfSatisfying(StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED));
    // ... while other connections are served.
    assertThat(RankerGrpc.newBlockingStub(connect()).rank(small()).getCandidatesCount()).isEqualTo(2);
    assertThat(streams).noneMatch(CompletableFuture::isDone);
  }

  @Test
  void bytesThatAreNoRequestAreInvalidArgumentCountedAsSuchAndLoggedBriefly() throws Exception {
    start(loopback());
    List<LogRecord> logged = new CopyOnWriteArrayList<>();
    Handler capture = new Handler() {
      @Override
      public void publish(LogRecord r) {
        logged.add(r);
      }

      @Override
      public void flush() {}

      @Override
      public void close() {}
    };
    Logger grpcServer = Logger.getLogger("io.grpc");
    Logger ours = Logger.getLogger(RequestParsing.class.getName());
    grpcServer.addHandler(capture);
    ours.addHandler(capture);
    try {
      ManagedChannel ch = connect();
      // Field 1 (request_id) announced with 127 bytes; 2 follow.
      byte[] garbage = {0x0a, 0x7f, 0x41, 0x42};
      for (int i = 0; i < 20; i++) {
        Status s = raw(ch, garbage);
        assertThat(s.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(s.getDescription()).startsWith("the request message is not a valid hiformer.v1.Ranker/Rank request: ")
            .hasSizeLessThan(300);
      }
      assertThat(server.service().metrics().scrape())
          .contains("hiformer_rank_errors_total{status=\"INVALID_ARGUMENT\"} 20.0")
          .doesNotContain("status=\"UNKNOWN\"");
      // One short line, no stack trace, not one a call.
      assertThat(logged).hasSize(1).allSatisfy(r -> {
        assertThat(r.getThrown()).isNull();
        assertThat(r.getMessage()).startsWith("malformed request message for hiformer.v1.Ranker/Rank refused: ")
            .hasSizeLessThan(300);
      });
      // The server answers well-formed requests as before.
      assertThat(RankerGrpc.newBlockingStub(ch).rank(small()).getCandidatesCount()).isEqualTo(2);
      assertThat(raw(ch, small().toByteArray()).getCode()).isEqualTo(Status.Code.OK);
    } finally {
      grpcServer.removeHandler(capture);
      ours.removeHandler(capture);
    }
  }

  @Test
  void megabyteValuesAreEchoedShortened() throws Exception {
    start(loopback());
    var ranker = RankerGrpc.newBlockingStub(connect());
    String huge = "x".repeat(1 << 20);
    Candidate c = Candidate.newBuilder().setItemId(huge).build();
    assertInvalid(ranker, request("u1", c, c).build(),
        "candidates[1].item_id '" + "x".repeat(Echo.SHOWN) + "... (1048576 chars)' is a duplicate");
    assertInvalid(ranker, small().toBuilder().setArm(huge).build(),
        "arm '" + "x".repeat(Echo.SHOWN) + "... (1048576 chars)' is not a configured arm; arms: [default]");
    // A feature key is echoed shortened too.
    Status s = Status.fromThrowable(org.assertj.core.api.Assertions.catchThrowable(
        () -> ranker.rank(small().toBuilder().putContext(huge, dense(Double.NaN)).build())));
    assertThat(s.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(s.getDescription()).hasSizeLessThan(Echo.MAX_DESCRIPTION)
        .startsWith("context[" + "x".repeat(Echo.SHOWN) + "... (1048576 chars)]");
    assertThat(ranker.rank(small()).getCandidatesCount()).isEqualTo(2);
  }

  static void assertInvalid(RankerGrpc.RankerBlockingStub ranker, RankRequest r, String description) {
    assertThatThrownBy(() -> ranker.rank(r)).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
      assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
      assertThat(e.getStatus().getDescription()).isEqualTo(description);
    });
  }

  @Test
  void topKIsUnsignedAndTheRankLogRecordsTheCountReturned() throws Exception {
    start(loopback());
    List<Integer> returned = new CopyOnWriteArrayList<>();
    server.service().onScored((request, id, arm, inputs, p, scores, order, n) -> returned.add(n));
    var ranker = RankerGrpc.newBlockingStub(connect());
    RankRequest three = request("u1", item("i0", 3), item("i1", 5), item("i2", 7)).build();
    // 2^31, 2^32 - 1 (the largest uint32), 2 and 0 (all).
    for (int topK : new int[] {Integer.MIN_VALUE, -1, 2, 0}) {
      int expected = topK == 2 ? 2 : 3;
      assertThat(ranker.rank(three.toBuilder().setTopK(topK).build()).getCandidatesCount())
          .as("top_k %s", Integer.toUnsignedString(topK)).isEqualTo(expected);
    }
    assertThat(returned).containsExactly(3, 3, 2, 3);
  }

  @Test
  void reflectionV1alphaListsTheServices() throws Exception {
    start(loopback());
    CompletableFuture<ServerReflectionResponse> answer = new CompletableFuture<>();
    var requests = ServerReflectionGrpc.newStub(connect()).serverReflectionInfo(new StreamObserver<>() {
      @Override
      public void onNext(ServerReflectionResponse r) {
        answer.complete(r);
      }

      @Override
      public void onError(Throwable t) {
        answer.completeExceptionally(t);
      }

      @Override
      public void onCompleted() {}
    });
    requests.onNext(ServerReflectionRequest.newBuilder().setListServices("").build());
    ServerReflectionResponse r = answer.get(20, TimeUnit.SECONDS);
    requests.onCompleted();
    assertThat(r.getListServicesResponse().getServiceList()).extracting(s -> s.getName())
        .contains(RankerGrpc.SERVICE_NAME, "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection");
  }

}
