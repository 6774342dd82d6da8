package io.hiformer.ranker;

import static io.hiformer.ranker.RankServiceTest.channel;
import static io.hiformer.ranker.RankServiceTest.startServer;
import static io.hiformer.ranker.RegistryWatcherTest.REQUEST;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.hiformer.model.ModelRegistry;
import io.hiformer.proto.RankRequest;
import io.hiformer.proto.RankResponse;
import io.hiformer.proto.RankerGrpc;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Requests that pin a version no arm serves, through a real server over a real registry. */
class PinnedVersionsTest {
  @TempDir
  Path dir;

  static RankRequest pin(long version) {
    return REQUEST.toBuilder().setModelVersion(version).build();
  }

  /** The candidates' per-task probabilities, in response order. */
  static float[] scores(RankResponse r) {
    float[] out = new float[r.getCandidatesCount() * 2];
    int i = 0;
    for (var c : r.getCandidatesList()) {
      for (var t : c.getTaskScoresList()) {
        out[i++] = t.getProbability();
      }
    }
    return Arrays.copyOf(out, i);
  }

  @Test
  void servesPinnedVersionsAsThatVersionWouldAndKeepsTheTwoLastUsed() throws Exception {
    ModelRegistry registry = ModelRegistry.open(dir.resolve("registry"));
    for (long v = 1; v <= 4; v++) {
      TinyModels.publish(registry, v);
    }
    try (RegistryWatcher w = new RegistryWatcher(registry, TinyModels.NAME, "1", 1, RankOptions.DEFAULTS);
        RankerServer s = startServer(w.service())) {
      ManagedChannel ch = channel(s);
      try {
        var stub = RankerGrpc.newBlockingStub(ch);
        assertThat(stub.rank(REQUEST).getModelVersion()).isEqualTo(1);
        assertThat(stub.rank(pin(1)).getModelVersion()).isEqualTo(1);
        assertThat(w.pinnedVersions().kept()).isEmpty();

        for (long v = 2; v <= 4; v++) {
          RankResponse pinned = stub.rank(pin(v));
          assertThat(pinned.getModelVersion()).isEqualTo(v);
          assertThat(pinned.getArm()).isEqualTo(RankService.DEFAULT_ARM);
          // The same answer as a server of that version alone.
          try (LoadedModel alone = LoadedModel.load(registry, registry.version(TinyModels.NAME, v), 1)) {
            RankResponse expected = new RankService(alone).rank(REQUEST);
            assertThat(pinned.getCandidatesList()).extracting(c -> c.getItemId())
                .containsExactlyElementsOf(expected.getCandidatesList().stream().map(c -> c.getItemId()).toList());
            // SIMD sums may round differently once the JIT has compiled them: a few ulps.
            assertThat(scores(pinned)).containsExactly(scores(expected), org.assertj.core.data.Offset.offset(1e-6f));
          }
        }
        float[] v2 = scores(stub.rank(pin(2)));
        float[] v1 = scores(stub.rank(REQUEST));
        assertThat(IntStream.range(0, v1.length).mapToDouble(i -> Math.abs(v1[i] - v2[i])).max()
            .orElseThrow()).as("v2 scores differ from v1's").isGreaterThan(1e-4);
        // 2 was evicted by 4 and loaded again; 3 then went.
        assertThat(w.pinnedVersions().kept()).containsExactly(4L, 2L);
        // Unpinned calls still get the arm's version.
        assertThat(stub.rank(REQUEST).getModelVersion()).isEqualTo(1);
      } finally {
        ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }

  @Test
  void refusesVersionsItCannotServeWithInvalidArgumentAndKeepsServing() throws Exception {
    ModelRegistry registry = ModelRegistry.open(dir.resolve("registry"));
    TinyModels.publish(registry, 1);
    Path corrupt = TinyModels.publish(registry, 2).file();
    try (FileChannel f = FileChannel.open(corrupt, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      long at = f.size() - 8;
      ByteBuffer b = ByteBuffer.allocate(1);
      f.read(b, at);
      f.write(ByteBuffer.wrap(new byte[] {(byte) ~b.get(0)}), at);
    }
    try (RegistryWatcher w = new RegistryWatcher(registry, TinyModels.NAME, "1", 1, RankOptions.DEFAULTS);
        RankerServer s = startServer(w.service())) {
      ManagedChannel ch = channel(s);
      try {
        var stub = RankerGrpc.newBlockingStub(ch);
        invalid(stub, pin(99), "model_version 99 is not in the registry");
        invalid(stub, pin(-3), "model_version must not be negative");
        invalid(stub, pin(2), "model_version 2 cannot be served");
        assertThat(w.pinnedVersions().kept()).isEmpty();
        assertThat(stub.rank(REQUEST).getModelVersion()).isEqualTo(1);
      } finally {
        ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }

  /** A loader that counts loads per version and runs {@code before} first (to hold a load). */
  static final class CountingLoader implements PinnedVersions.Loader {
    final ModelRegistry registry;
    final java.util.Map<Long, java.util.concurrent.atomic.AtomicInteger> loads = new java.util.concurrent.ConcurrentHashMap<>();
    volatile java.util.function.LongConsumer before = v -> {};

    CountingLoader(ModelRegistry registry) {
      this.registry = registry;
    }

    @Override
    public LoadedModel load(ModelRegistry.Version v) throws java.io.IOException {
      loads.computeIfAbsent(v.number(), k -> new java.util.concurrent.atomic.AtomicInteger()).incrementAndGet();
      before.accept(v.number());
      return LoadedModel.load(registry, v, 1);
    }

    int loads(long version) {
      var n = loads.get(version);
      return n == null ? 0 : n.get();
    }
  }

  static void await(java.util.concurrent.CountDownLatch latch, long seconds) {
    try {
      latch.await(seconds, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /**
   * The livelock: with room for two, three calls pin three unloaded versions at once. Each version
   * is loaded once (a version loading is never evicted), and every call answers within its
   * deadline: OK, or RESOURCE_EXHAUSTED for the one that found no room.
   */
  @Test
  void threeCallsPinningThreeUnloadedVersionsAllAnswerWithinTheirDeadline() throws Exception {
    ModelRegistry registry = ModelRegistry.open(dir.resolve("registry"));
    for (long v = 1; v <= 4; v++) {
      TinyModels.publish(registry, v);
    }
    CountingLoader loader = new CountingLoader(registry);
    // The first load waits (3 s at most) until all three have asked, so they overlap.
    java.util.concurrent.CountDownLatch asked = new java.util.concurrent.CountDownLatch(3);
    loader.before = v -> {
      asked.countDown();
      await(asked, 3);
    };
    try (LoadedModel v1 = LoadedModel.load(registry, registry.version(TinyModels.NAME, 1), 1);
        PinnedVersions pinned = new PinnedVersions(registry, TinyModels.NAME, loader, 2)) {
      RankService service = new RankService(v1);
      service.pinFrom(pinned);
      try (RankerServer s = startServer(service)) {
        ManagedChannel ch = channel(s);
        try {
          var stub = RankerGrpc.newFutureStub(ch).withDeadlineAfter(30, TimeUnit.SECONDS);
          var calls = java.util.stream.LongStream.rangeClosed(2, 4).mapToObj(v -> stub.rank(pin(v))).toList();
          java.util.List<Status.Code> codes = new java.util.ArrayList<>();
          for (var call : calls) {
            try {
              call.get(60, TimeUnit.SECONDS);
              codes.add(Status.Code.OK);
            } catch (java.util.concurrent.ExecutionException e) {
              codes.add(Status.fromThrowable(e.getCause()).getCode());
            }
          }
          assertThat(codes).allMatch(c -> c == Status.Code.OK || c == Status.Code.RESOURCE_EXHAUSTED)
              .filteredOn(c -> c == Status.Code.OK).hasSizeGreaterThanOrEqualTo(2);
          for (long v = 2; v <= 4; v++) {
            assertThat(loader.loads(v)).as("loads of v%d", v).isLessThanOrEqualTo(1);
          }
          // Once the loads are done and idle, there is room again: every version is served.
          var blocking = RankerGrpc.newBlockingStub(ch).withDeadlineAfter(30, TimeUnit.SECONDS);
          for (long v = 2; v <= 4; v++) {
            assertThat(blocking.rank(pin(v)).getModelVersion()).isEqualTo(v);
          }
          assertThat(pinned.kept()).hasSize(2);
        } finally {
          ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
      }
    }
  }

  /** A call whose deadline passes while its version loads stops waiting; the load goes on for later calls. */
  @Test
  void aCallStopsWaitingForALoadWhenItsDeadlinePasses() throws Exception {
    ModelRegistry registry = ModelRegistry.open(dir.resolve("registry"));
    TinyModels.publish(registry, 1);
    TinyModels.publish(registry, 2);
    CountingLoader loader = new CountingLoader(registry);
    java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
    loader.before = v -> await(release, 30);
    java.util.concurrent.ScheduledExecutorService timer = java.util.concurrent.Executors.newSingleThreadScheduledExecutor();
    try (LoadedModel v1 = LoadedModel.load(registry, registry.version(TinyModels.NAME, 1), 1);
        PinnedVersions pinned = new PinnedVersions(registry, TinyModels.NAME, loader, 2)) {
      RankService service = new RankService(v1);
      service.pinFrom(pinned);
      java.util.concurrent.CompletableFuture<Throwable> outcome = new java.util.concurrent.CompletableFuture<>();
      io.grpc.Context.CancellableContext call = io.grpc.Context.current()
          .withDeadline(io.grpc.Deadline.after(300, TimeUnit.MILLISECONDS), timer);
      Thread caller = new Thread(() -> call.run(() -> service.rank(pin(2), new io.grpc.stub.StreamObserver<>() {
        @Override
        public void onNext(RankResponse r) {
          outcome.complete(null);
        }

        @Override
        public void onError(Throwable t) {
          outcome.complete(t);
        }

        @Override
        public void onCompleted() {}
      })));
      caller.start();
      try {
        Throwable t = outcome.get(20, TimeUnit.SECONDS);
        assertThat(Status.fromThrowable(t).getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
        assertThat(Status.fromThrowable(t).getDescription()).contains("while model_version 2 was loading");
        assertThat(loader.loads(2)).isEqualTo(1);
      } finally {
        release.countDown();
        caller.join(30_000);
        call.close();
      }
      // The load finished for the next call, which needs no new load.
      assertThat(service.rank(pin(2)).getModelVersion()).isEqualTo(2);
      assertThat(loader.loads(2)).isEqualTo(1);
    } finally {
      timer.shutdownNow();
    }
  }

  /** A corrupt version is read once; later calls are refused at once, and no call learns a server path. */
  @Test
  void aVersionThatFailedToLoadIsRememberedAndItsErrorNamesNoServerPath() throws Exception {
    ModelRegistry registry = ModelRegistry.open(dir.resolve("registry"));
    TinyModels.publish(registry, 1);
    corrupt(TinyModels.publish(registry, 2).file());
    CountingLoader loader = new CountingLoader(registry);
    try (LoadedModel v1 = LoadedModel.load(registry, registry.version(TinyModels.NAME, 1), 1);
        PinnedVersions pinned = new PinnedVersions(registry, TinyModels.NAME, loader, 2)) {
      RankService service = new RankService(v1);
      service.pinFrom(pinned);
      try (RankerServer s = startServer(service)) {
        ManagedChannel ch = channel(s);
        try {
          var stub = RankerGrpc.newBlockingStub(ch);
          for (int i = 0; i < 3; i++) {
            assertThatThrownBy(() -> stub.rank(pin(2))).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
              assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
              assertThat(e.getStatus().getDescription()).startsWith("model_version 2 cannot be served")
                  .doesNotContain(dir.toString()).doesNotContain("registry").doesNotContain("safetensors")
                  .doesNotContain("SHA-256");
            });
          }
          assertThat(loader.loads(2)).isEqualTo(1);
          assertThat(stub.rank(REQUEST).getModelVersion()).isEqualTo(1);
        } finally {
          ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
      }
    }
  }

  /** Flips a byte near the end of {@code file}, so its hash no longer matches. */
  static void corrupt(Path file) throws java.io.IOException {
    try (FileChannel f = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      long at = f.size() - 8;
      ByteBuffer b = ByteBuffer.allocate(1);
      f.read(b, at);
      f.write(ByteBuffer.wrap(new byte[] {(byte) ~b.get(0)}), at);
    }
  }

  static void invalid(RankerGrpc.RankerBlockingStub stub, RankRequest r, String message) {
    assertThatThrownBy(() -> stub.rank(r)).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
      assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
      assertThat(e.getStatus().getDescription()).contains(message);
    });
  }
}
