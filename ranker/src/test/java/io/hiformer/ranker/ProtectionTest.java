package io.hiformer.ranker;

import static io.hiformer.ranker.RankServiceTest.item;
import static io.hiformer.ranker.RankServiceTest.request;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.stub.StreamObserver;
import io.hiformer.model.ModelRegistry;
import io.hiformer.proto.RankRequest;
import io.hiformer.proto.RankResponse;
import io.hiformer.proto.RankerGrpc;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Admission limit, deadlines and the message size limit against a real server on a loopback
 * port. A call is held inside the service by a score formula that blocks on a latch while a
 * test has armed it; nothing waits on time.
 */
class ProtectionTest {
  @TempDir
  static Path dir;

  static LoadedModel model;

  /** A formula that, while armed, signals {@code entered} and waits for {@code release}, once. */
  static final class HoldingFormula implements ProbabilityCombiner {
    volatile CountDownLatch entered;
    volatile CountDownLatch release;
    final AtomicInteger holds = new AtomicInteger();

    void arm() {
      entered = new CountDownLatch(1);
      release = new CountDownLatch(1);
      holds.set(1);
    }

    @Override
    public float combine(float[] probabilities, int offset, int tasks) {
      if (holds.getAndUpdate(h -> Math.max(0, h - 1)) > 0) {
        entered.countDown();
        try {
          if (!release.await(30, TimeUnit.SECONDS)) {
            throw new IllegalStateException("the test never released the held call");
          }
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      return ProbabilityCombiner.MEAN.combine(probabilities, offset, tasks);
    }
  }

  final HoldingFormula formula = new HoldingFormula();
  RankerServer server;
  ManagedChannel channel;

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
    if (formula.release != null) {
      formula.release.countDown();
    }
    if (channel != null) {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    if (server != null) {
      server.close();
    }
  }

  void start(int maxInboundBytes, int maxConcurrentCalls) throws IOException {
    RankService service = new RankService(ServedArms.single(model, formula), RankOptions.DEFAULTS);
    server = RankerServer.start(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), service,
        maxInboundBytes, Duration.ofSeconds(5), maxConcurrentCalls);
    channel = ManagedChannelBuilder.forAddress(InetAddress.getLoopbackAddress().getHostAddress(), server.port())
        .usePlaintext().build();
  }

  static RankRequest small() {
    return request("u1", item("i0", 3), item("i1", 5)).build();
  }

  /** Starts a Rank call that the formula holds; returns its eventual outcome once it has entered. */
  CompletableFuture<RankResponse> holdOne(Context context) throws InterruptedException {
    formula.arm();
    CompletableFuture<RankResponse> outcome = new CompletableFuture<>();
    context.run(() -> RankerGrpc.newStub(channel).rank(small(), new StreamObserver<>() {
      @Override
      public void onNext(RankResponse r) {
        outcome.complete(r);
      }

      @Override
      public void onError(Throwable t) {
        outcome.completeExceptionally(t);
      }

      @Override
      public void onCompleted() {}
    }));
    assertThat(formula.entered.await(10, TimeUnit.SECONDS)).as("the held call reached the formula").isTrue();
    return outcome;
  }

  /** Waits (bounded) until the server has released every permit; no time is asserted. */
  void awaitNoneInFlight() throws InterruptedException {
    for (int i = 0; i < 10_000 && server.concurrencyLimit().inFlight() > 0; i++) {
      Thread.sleep(1);
    }
    assertThat(server.concurrencyLimit().inFlight()).isZero();
  }

  @Test
  void shedsCallsOverTheLimitAndReleasesThePermit() throws Exception {
    start(RankerServer.DEFAULT_MAX_INBOUND_MESSAGE_BYTES, 1);
    RankerGrpc.RankerBlockingStub ranker = RankerGrpc.newBlockingStub(channel);
    CompletableFuture<RankResponse> held = holdOne(Context.current());
    assertThat(server.concurrencyLimit().inFlight()).isEqualTo(1);

    assertThatThrownBy(() -> ranker.rank(small()))
        .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
          assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
          assertThat(e.getStatus().getDescription()).isEqualTo("over the concurrency limit of 1 calls in flight");
        });
    // Health is not limited.
    assertThat(HealthGrpc.newBlockingStub(channel)
        .check(HealthCheckRequest.newBuilder().setService(RankerGrpc.SERVICE_NAME).build()).getStatus())
        .isEqualTo(ServingStatus.SERVING);

    formula.release.countDown();
    assertThat(held.get(10, TimeUnit.SECONDS).getCandidatesCount()).isEqualTo(2);
    // The permit is released before the answer reaches the client, so the next call is admitted.
    assertThat(ranker.rank(small()).getCandidatesCount()).isEqualTo(2);
    assertThat(ranker.rank(small()).getCandidatesCount()).isEqualTo(2);
    assertThat(server.concurrencyLimit().inFlight()).isZero();
  }

  @Test
  void aCancelledCallGivesItsPermitBack() throws Exception {
    start(RankerServer.DEFAULT_MAX_INBOUND_MESSAGE_BYTES, 1);
    Context.CancellableContext context = Context.current().withCancellation();
    CompletableFuture<RankResponse> held = holdOne(context);
    context.cancel(null);
    assertThatThrownBy(() -> held.get(10, TimeUnit.SECONDS)).hasCauseInstanceOf(StatusRuntimeException.class);
    formula.release.countDown();
    awaitNoneInFlight();
    assertThat(RankerGrpc.newBlockingStub(channel).rank(small()).getCandidatesCount()).isEqualTo(2);
  }

  @Test
  void anExpiredDeadlineFailsWithDeadlineExceeded() throws Exception {
    start(RankerServer.DEFAULT_MAX_INBOUND_MESSAGE_BYTES, 1);
    assertThatThrownBy(() -> RankerGrpc.newBlockingStub(channel).withDeadline(Deadline.after(-1, TimeUnit.SECONDS))
        .rank(small()))
        .isInstanceOfSatisfying(StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED));
    awaitNoneInFlight();
    assertThat(RankerGrpc.newBlockingStub(channel).rank(small()).getCandidatesCount()).isEqualTo(2);
  }

  /** The server-side check: a call whose context has expired is not featurized or scored. */
  @Test
  void theServiceFailsFastWhenTheCallersDeadlineHasPassed() {
    RankService service = new RankService(ServedArms.single(model, formula), RankOptions.DEFAULTS);
    formula.arm(); // would hold forever (30 s) if scoring were reached
    ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
    try (Context.CancellableContext expired = Context.current()
        .withDeadline(Deadline.after(-1, TimeUnit.SECONDS), timer)) {
      AtomicReference<Throwable> error = new AtomicReference<>();
      AtomicInteger answers = new AtomicInteger();
      expired.run(() -> service.rank(small(), new StreamObserver<>() {
        @Override
        public void onNext(RankResponse r) {
          answers.incrementAndGet();
        }

        @Override
        public void onError(Throwable t) {
          error.set(t);
        }

        @Override
        public void onCompleted() {
          answers.incrementAndGet();
        }
      }));
      assertThat(answers).hasValue(0);
      assertThat(Status.fromThrowable(error.get()).getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
      assertThat(formula.entered.getCount()).as("scoring was skipped").isEqualTo(1);
    } finally {
      timer.shutdownNow();
    }
  }

  /** A cancelled call (no deadline) gets no answer at all. */
  @Test
  void theServiceAnswersNothingToACancelledCall() {
    RankService service = new RankService(ServedArms.single(model, formula), RankOptions.DEFAULTS);
    Context.CancellableContext cancelled = Context.current().withCancellation();
    cancelled.cancel(null);
    AtomicInteger events = new AtomicInteger();
    cancelled.run(() -> service.rank(small(), new StreamObserver<>() {
      @Override
      public void onNext(RankResponse r) {
        events.incrementAndGet();
      }

      @Override
      public void onError(Throwable t) {
        events.incrementAndGet();
      }

      @Override
      public void onCompleted() {
        events.incrementAndGet();
      }
    }));
    assertThat(events).hasValue(0);
  }

  @Test
  void anOversizedRequestIsRejectedWithResourceExhausted() throws Exception {
    start(1024, 1);
    RankRequest big = request("u1", item("i0", 3)).setRequestId("x").putContext("pad", RankServiceTest.cat("p".repeat(4096)))
        .build();
    assertThat(big.getSerializedSize()).isGreaterThan(1024);
    assertThatThrownBy(() -> RankerGrpc.newBlockingStub(channel).rank(big))
        .isInstanceOfSatisfying(StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED));
    awaitNoneInFlight();
    assertThat(RankerGrpc.newBlockingStub(channel).rank(small()).getCandidatesCount()).isEqualTo(2);
  }

  @Test
  void theLimitMustBePositive() {
    assertThatThrownBy(() -> new ConcurrencyLimit(0)).isInstanceOf(IllegalArgumentException.class);
  }
}
