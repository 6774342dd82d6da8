package io.hiformer.ranker;

import static io.hiformer.ranker.RankServiceTest.channel;
import static io.hiformer.ranker.RankServiceTest.item;
import static io.hiformer.ranker.RankServiceTest.request;
import static io.hiformer.ranker.RankServiceTest.startServer;
import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.ManagedChannel;
import io.hiformer.model.ModelRegistry;
import io.hiformer.model.Parameters;
import io.hiformer.proto.RankRequest;
import io.hiformer.proto.RankResponse;
import io.hiformer.proto.RankerGrpc;
import java.nio.channels.FileChannel;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hot swap through a real server on a loopback port: versions published to a real registry on
 * disk are found by {@link RegistryWatcher#poll()} or announced through {@link RegistryWatcher#offer},
 * loaded off the request path and switched in while calls run.
 */
class RegistryWatcherTest {
  @TempDir
  Path dir;

  ModelRegistry registry;
  static final RankRequest REQUEST = request("u1", item("i0", 1), item("i1", 2), item("i2", 3)).build();

  @BeforeEach
  void publishFirst() throws Exception {
    registry = ModelRegistry.open(dir.resolve("registry"));
    TinyModels.publish(registry, 1);
  }

  static double refusals(RankService s) {
    return s.metrics().registry().get("hiformer.model.refusals").counter().count();
  }

  @Test
  void swapsUnderConcurrentCallsWithoutFailingAny() throws Exception {
    try (RegistryWatcher w = new RegistryWatcher(registry, TinyModels.NAME, "latest", 1, RankOptions.DEFAULTS);
        RankerServer s = startServer(w.service())) {
      LoadedModel v1 = w.service().model();
      ManagedChannel ch = channel(s);
      AtomicBoolean stop = new AtomicBoolean();
      AtomicInteger answered = new AtomicInteger();
      Set<Long> versions = ConcurrentHashMap.newKeySet();
      ConcurrentLinkedQueue<Throwable> failures = new ConcurrentLinkedQueue<>();
      List<Thread> callers = new ArrayList<>();
      for (int t = 0; t < 4; t++) {
        callers.add(Thread.ofPlatform().start(() -> {
          var stub = RankerGrpc.newBlockingStub(ch);
          while (!stop.get()) {
            try {
              RankResponse r = stub.withDeadlineAfter(30, TimeUnit.SECONDS).rank(REQUEST);
              versions.add(r.getModelVersion());
              assertThat(r.getCandidatesList()).hasSize(3);
              answered.incrementAndGet();
            } catch (Throwable e) {
              failures.add(e);
              return;
            }
          }
        }));
      }
      try {
        awaitAnswers(answered, 20);
        TinyModels.publish(registry, 2);
        assertThat(w.poll()).isTrue();
        awaitAnswers(answered, answered.get() + 20);
        LoadedModel v2 = w.service().model();
        assertThat(v2.version()).isEqualTo(2);
        TinyModels.publish(registry, 3);
        assertThat(w.offer(TinyModels.NAME, 3, List.of()).get(30, TimeUnit.SECONDS)).isTrue();
        awaitAnswers(answered, answered.get() + 20);
        stop.set(true);
        for (Thread t : callers) {
          t.join();
        }
        assertThat(failures).isEmpty();
        assertThat(versions).containsExactlyInAnyOrder(1L, 2L, 3L);
        assertThat(RankerGrpc.newBlockingStub(ch).rank(REQUEST).getModelVersion()).isEqualTo(3);
        // Replaced models close once their calls are over.
        assertThat(v1.awaitClosed(10_000)).isTrue();
        assertThat(v2.awaitClosed(10_000)).isTrue();
        assertThat(w.service().model().isClosed()).isFalse();
        assertThat(w.service().metrics().registry().get("hiformer.model.swaps").counter().count()).isEqualTo(2);
      } finally {
        stop.set(true);
        ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }

  static void awaitAnswers(AtomicInteger answered, int atLeast) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (answered.get() < atLeast && System.nanoTime() < deadline) {
      Thread.sleep(5);
    }
    assertThat(answered.get()).isGreaterThanOrEqualTo(atLeast);
  }

  @Test
  void aReplacedModelClosesOnlyAfterTheCallOnItEnds() throws Exception {
    try (RegistryWatcher w = new RegistryWatcher(registry, TinyModels.NAME, "latest", 1, RankOptions.DEFAULTS);
        RankerServer s = startServer(w.service())) {
      CountDownLatch entered = new CountDownLatch(1);
      CountDownLatch release = new CountDownLatch(1);
      AtomicBoolean hold = new AtomicBoolean(true);
      w.service().onScored((request, id, arm, inputs, probabilities, scores, order, returned) -> {
        if (arm.model().version() == 1 && hold.compareAndSet(true, false)) {
          entered.countDown();
          try {
            release.await(30, TimeUnit.SECONDS);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        }
      });
      ManagedChannel ch = channel(s);
      try {
        LoadedModel v1 = w.service().model();
        Future<RankResponse> held = RankerGrpc.newFutureStub(ch).rank(REQUEST);
        assertThat(entered.await(30, TimeUnit.SECONDS)).isTrue();

        TinyModels.publish(registry, 2);
        assertThat(w.poll()).isTrue();
        assertThat(RankerGrpc.newBlockingStub(ch).rank(REQUEST).getModelVersion()).isEqualTo(2);
        assertThat(v1.isClosed()).as("v1 is closed while a call still runs on it").isFalse();

        release.countDown();
        assertThat(held.get(30, TimeUnit.SECONDS).getModelVersion()).isEqualTo(1);
        assertThat(v1.awaitClosed(10_000)).isTrue();
      } finally {
        release.countDown();
        ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }

  @Test
  void corruptAndInvalidVersionsAreRefusedOnceWhileTheCurrentOneServes() throws Exception {
    try (RegistryWatcher w = new RegistryWatcher(registry, TinyModels.NAME, "latest", 1, RankOptions.DEFAULTS);
        RankerServer s = startServer(w.service())) {
      ManagedChannel ch = channel(s);
      try {
        var stub = RankerGrpc.newBlockingStub(ch);
        // v2: bytes flipped after publishing, so its hash no longer matches COMPLETE.
        Path file = TinyModels.publish(registry, 2).file();
        try (FileChannel f = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
          long at = f.size() - 8;
          ByteBuffer b = ByteBuffer.allocate(1);
          f.read(b, at);
          b.flip();
          f.write(ByteBuffer.wrap(new byte[] {(byte) ~b.get(0)}), at);
        }
        assertThat(w.poll()).isFalse();
        assertThat(refusals(w.service())).isEqualTo(1);
        assertThat(stub.rank(REQUEST).getModelVersion()).isEqualTo(1);
        // Not retried: neither by polling nor when announced.
        assertThat(w.poll()).isFalse();
        assertThat(w.offer(TinyModels.NAME, 2, List.of()).get(30, TimeUnit.SECONDS)).isFalse();
        assertThat(refusals(w.service())).isEqualTo(1);

        // v3: a valid file without feature transforms cannot featurize requests.
        Parameters p = Parameters.initialize(TinyModels.config(TinyModels.transforms()), 3);
        registry.publish(TinyModels.NAME, p, Map.of(), "{}");
        assertThat(w.poll()).isFalse();
        assertThat(refusals(w.service())).isEqualTo(2);
        assertThat(stub.rank(REQUEST).getModelVersion()).isEqualTo(1);

        // A good version after bad ones is taken.
        TinyModels.publish(registry, 4);
        assertThat(w.poll()).isTrue();
        assertThat(stub.rank(REQUEST).getModelVersion()).isEqualTo(4);
        assertThat(refusals(w.service())).isEqualTo(2);
      } finally {
        ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }

  @Test
  void announcementsAndAliasMovesSwitchTheArmsThatFollowThem() throws Exception {
    registry.setAlias(TinyModels.NAME, "production", 1);
    TinyModels.publish(registry, 2);
    Experiments spec = Experiments.parse("""
        salt: s
        arms:
          - {name: prod, model: production, share: 0.5}
          - {name: pinned, model: 1, share: 0.5}
        """);
    try (RegistryWatcher w = new RegistryWatcher(registry, TinyModels.NAME, spec, 1, RankOptions.DEFAULTS)) {
      assertThat(w.service().arms().arm("prod").model().version()).isEqualTo(1);
      // Another model's news, or a version no followed alias points at, changes nothing.
      assertThat(w.offer("other", 2, List.of("production")).get(30, TimeUnit.SECONDS)).isFalse();
      assertThat(w.offer(TinyModels.NAME, 2, List.of("candidate")).get(30, TimeUnit.SECONDS)).isFalse();

      registry.setAlias(TinyModels.NAME, "production", 2);
      assertThat(w.offer(TinyModels.NAME, 2, List.of("production")).get(30, TimeUnit.SECONDS)).isTrue();
      assertThat(w.service().arms().arm("prod").model().version()).isEqualTo(2);
      assertThat(w.service().arms().arm("pinned").model().version()).isEqualTo(1);

      // A rollback of the alias is found by polling.
      registry.rollback(TinyModels.NAME, "production");
      assertThat(w.poll()).isTrue();
      assertThat(w.service().arms().arm("prod").model().version()).isEqualTo(1);
      assertThat(w.service().arms().models()).hasSize(1);
      assertThat(w.poll()).isFalse();
    }
  }

  @Test
  void thePollerFindsANewVersionByItself() throws Exception {
    try (RegistryWatcher w = new RegistryWatcher(registry, TinyModels.NAME, "latest", 1, RankOptions.DEFAULTS)) {
      w.start(java.time.Duration.ofMillis(20));
      TinyModels.publish(registry, 2);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (w.service().model().version() != 2 && System.nanoTime() < deadline) {
        Thread.sleep(10);
      }
      assertThat(w.service().model().version()).isEqualTo(2);
    }
  }

  static void awaitVersion(RegistryWatcher w, long version) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (w.service().model().version() != version && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    assertThat(w.service().model().version()).isEqualTo(version);
  }

  static double watcherFailures(RankService s) {
    return s.metrics().registry().get("hiformer.model.watcher.failures").counter().count();
  }

  /**
   * Replaces the version's file by one whose header declares a 1,000,000 x 1,000,000 float tensor
   * (4 TB) over 16 bytes of data, with a matching marker: only the header tells it apart.
   */
  static void declareHugeTensor(ModelRegistry.Version v) throws Exception {
    byte[] header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1000000,1000000],\"data_offsets\":[0,16]}}"
        .getBytes(java.nio.charset.StandardCharsets.UTF_8);
    ByteBuffer file = ByteBuffer.allocate(8 + header.length + 16).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    file.putLong(header.length).put(header);
    java.nio.file.Files.write(v.file(), file.array());
    String sha = java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(file.array()));
    java.nio.file.Files.writeString(v.file().resolveSibling("COMPLETE"), sha + "\n");
  }

  @Test
  void aVersionDeclaringMoreTensorsThanTheHeapHoldsIsRefusedFromItsHeaderAndALaterOneSwapsIn() throws Exception {
    declareHugeTensor(TinyModels.publish(registry, 2));
    ModelRegistry.Version huge = registry.version(TinyModels.NAME, 2);
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> io.hiformer.features.VerifiedModel.load(registry, huge))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("model tiny v2 declares 4,000,000,000,000 bytes of tensors in a file of")
        .hasMessageContaining("of heap")
        .hasMessageContaining("raise -Xmx");
    registry.setAlias(TinyModels.NAME, "live", 1);
    try (RegistryWatcher w = new RegistryWatcher(registry, TinyModels.NAME, "live", 1, RankOptions.DEFAULTS)) {
      w.start(java.time.Duration.ofMillis(20));
      registry.setAlias(TinyModels.NAME, "live", 2);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (refusals(w.service()) == 0 && System.nanoTime() < deadline) {
        Thread.sleep(10);
      }
      assertThat(refusals(w.service())).isEqualTo(1);
      assertThat(w.service().model().version()).isEqualTo(1);
      TinyModels.publish(registry, 3);
      registry.setAlias(TinyModels.NAME, "live", 3);
      awaitVersion(w, 3);
      assertThat(watcherFailures(w.service())).isZero();
    }
  }

  /**
   * An Error loading a version (forced here) no longer ends the watcher's polling: it is logged and
   * counted, and the version is tried again; an OutOfMemoryError refuses the version.
   */
  @Test
  void anErrorOnTheWatchersThreadIsCountedAndHotSwapGoesOn() throws Exception {
    try (RegistryWatcher w = new RegistryWatcher(registry, TinyModels.NAME, "latest", 1, RankOptions.DEFAULTS)) {
      AtomicBoolean failedOnce = new AtomicBoolean();
      w.beforeRead = v -> {
        if (v.number() == 2 && failedOnce.compareAndSet(false, true)) {
          throw new StackOverflowError("forced");
        }
        if (v.number() == 3) {
          throw new OutOfMemoryError("forced");
        }
      };
      w.start(java.time.Duration.ofMillis(20));
      TinyModels.publish(registry, 2);
      awaitVersion(w, 2);
      assertThat(watcherFailures(w.service())).isEqualTo(1);

      TinyModels.publish(registry, 3);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (refusals(w.service()) == 0 && System.nanoTime() < deadline) {
        Thread.sleep(10);
      }
      assertThat(refusals(w.service())).isEqualTo(1);
      TinyModels.publish(registry, 4);
      awaitVersion(w, 4);
    }
  }
}
