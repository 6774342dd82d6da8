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
    try (RegistryWatcher w = new RegistryWatcher(registry, TinyModels.NAME, "1", 1, RankService.Options.DEFAULTS);
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
    try (RegistryWatcher w = new RegistryWatcher(registry, TinyModels.NAME, "1", 1, RankService.Options.DEFAULTS);
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

  static void invalid(RankerGrpc.RankerBlockingStub stub, RankRequest r, String message) {
    assertThatThrownBy(() -> stub.rank(r)).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
      assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
      assertThat(e.getStatus().getDescription()).contains(message);
    });
  }
}
