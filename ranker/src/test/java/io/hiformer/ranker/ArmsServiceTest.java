package io.hiformer.ranker;

import static io.hiformer.ranker.RankServiceTest.channel;
import static io.hiformer.ranker.RankServiceTest.item;
import static io.hiformer.ranker.RankServiceTest.request;
import static io.hiformer.ranker.RankServiceTest.startServer;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.common.util.concurrent.ListenableFuture;
import com.google.common.util.concurrent.MoreExecutors;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.hiformer.model.ModelRegistry;
import io.hiformer.proto.RankRequest;
import io.hiformer.proto.RankResponse;
import io.hiformer.proto.RankerGrpc;
import io.hiformer.proto.ScoredCandidate;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Experiment arms through a real server: assignment, override, per-arm formulas and reloads. */
class ArmsServiceTest {
  @TempDir
  static Path dir;

  static ModelRegistry registry;
  static Path file;
  static ExperimentsWatcher watcher;
  static RankerServer server;
  static ManagedChannel channel;
  static RankerGrpc.RankerBlockingStub ranker;

  @BeforeAll
  static void start() throws IOException {
    registry = ModelRegistry.open(dir.resolve("registry"));
    TinyModels.publish(registry, 1);
    TinyModels.publish(registry, 2);
    registry.setAlias(TinyModels.NAME, "production", 1);
    file = dir.resolve("experiments.yaml");
    Files.writeString(file, ExperimentsTest.THREE_ARMS);
    watcher = new ExperimentsWatcher(file, registry, TinyModels.NAME, 1, RankOptions.DEFAULTS);
    server = startServer(watcher.service());
    channel = channel(server);
    ranker = RankerGrpc.newBlockingStub(channel);
  }

  @AfterAll
  static void stop() throws InterruptedException {
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    server.close();
    watcher.close();
  }

  static RankRequest req(String unit) {
    return request("u1", item("i0", 3), item("i1", 0.5), item("i2", 9), item("i3", 4.5), item("i4", 12))
        .setUnitId(unit).build();
  }

  @Test
  void servesTheAssignedArmWithItsModelAndTheOverride() {
    ArmAssigner assigner = new ArmAssigner(Experiments.parse(ExperimentsTest.THREE_ARMS));
    java.util.Set<String> seen = new java.util.HashSet<>();
    for (int u = 0; u < 40; u++) {
      String unit = "device-" + u;
      RankResponse r = ranker.rank(req(unit));
      assertThat(r.getArm()).isEqualTo(assigner.assign(unit));
      assertThat(r.getModelVersion()).isEqualTo(r.getArm().equals("control") ? 1 : 2);
      seen.add(r.getArm());
    }
    assertThat(seen).containsExactlyInAnyOrder("control", "clicks", "prod");
    // Without unit_id the user_id is the unit.
    RankRequest byUser = req("").toBuilder().setUserId("user-7").build();
    assertThat(ranker.rank(byUser).getArm()).isEqualTo(assigner.assign("user-7"));

    for (String arm : new String[] {"control", "clicks", "prod"}) {
      assertThat(ranker.rank(req("device-0").toBuilder().setArm(arm).build()).getArm()).isEqualTo(arm);
    }
    assertThatThrownBy(() -> ranker.rank(req("device-0").toBuilder().setArm("nope").build()))
        .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
          assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
          assertThat(e.getStatus().getDescription()).contains("arm 'nope'").contains("control");
        });
  }

  /**
   * The acceptance split: 10,000 units through the real server land in each arm within 2 points of
   * its share, and a restarted server (a new watcher reading the same file) puts every unit back
   * in its arm.
   */
  @Test
  void splitsTenThousandUnitsThroughTheServerByShareAndStablyAcrossARestart() throws Exception {
    int units = 10_000;
    String[] first = new String[units];
    Map<String, Integer> counts = new HashMap<>();
    var async = RankerGrpc.newFutureStub(channel);
    // Up to 64 calls in flight: the split is what is tested, not one call's latency.
    Semaphore inFlight = new Semaphore(64);
    List<ListenableFuture<RankResponse>> calls = new ArrayList<>();
    RankRequest small = request("u1", item("i0", 3), item("i1", 0.5)).build();
    for (int u = 0; u < units; u++) {
      inFlight.acquire();
      var call = async.rank(small.toBuilder().setUnitId("unit-" + u).build());
      call.addListener(inFlight::release, MoreExecutors.directExecutor());
      calls.add(call);
    }
    for (int u = 0; u < units; u++) {
      first[u] = calls.get(u).get(30, TimeUnit.SECONDS).getArm();
      counts.merge(first[u], 1, Integer::sum);
    }
    Map<String, Double> shares = Map.of("control", 0.5, "clicks", 0.3, "prod", 0.2);
    assertThat(counts.keySet()).containsExactlyInAnyOrderElementsOf(shares.keySet());
    shares.forEach((arm, share) -> assertThat(counts.get(arm) / (double) units).as(arm)
        .isCloseTo(share, Offset.offset(0.02)));

    try (ExperimentsWatcher restarted = new ExperimentsWatcher(file, registry, TinyModels.NAME, 1, RankOptions.DEFAULTS);
        RankerServer again = startServer(restarted.service())) {
      ManagedChannel ch = channel(again);
      try {
        var stub = RankerGrpc.newBlockingStub(ch);
        for (int u = 0; u < units; u += 25) {
          assertThat(stub.rank(small.toBuilder().setUnitId("unit-" + u).build()).getArm()).as("unit-%d", u).isEqualTo(first[u]);
        }
      } finally {
        ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }

  @Test
  void armFormulasOrderCandidatesAsComputedByHand() {
    RankResponse sum = ranker.rank(req("x").toBuilder().setArm("clicks").build());
    RankResponse prod = ranker.rank(req("x").toBuilder().setArm("prod").build());
    for (RankResponse r : new RankResponse[] {sum, prod}) {
      assertThat(r.getCandidatesList()).hasSize(5);
      double previous = Double.POSITIVE_INFINITY;
      for (ScoredCandidate c : r.getCandidatesList()) {
        double click = c.getTaskScores(0).getProbability();
        double like = c.getTaskScores(1).getProbability();
        double expected = r == sum ? 0.8 * click + 0.2 * like : click * like * like;
        assertThat((double) c.getScore()).isCloseTo(expected, Offset.offset(1e-6));
        assertThat(expected).isLessThanOrEqualTo(previous + 1e-6);
        previous = expected;
      }
    }
  }

  @Test
  void reloadSwitchesArmsAndRefusesBrokenFiles() throws Exception {
    Path f = dir.resolve("reload.yaml");
    Files.writeString(f, "salt: r\narms: [{name: a, model: 1, share: 1}]\n");
    try (ExperimentsWatcher w = new ExperimentsWatcher(f, registry, TinyModels.NAME, 1, RankOptions.DEFAULTS);
        RankerServer s = startServer(w.service())) {
      ManagedChannel ch = channel(s);
      try {
        var stub = RankerGrpc.newBlockingStub(ch);
        assertThat(stub.rank(req("d1")).getArm()).isEqualTo("a");
        assertThat(w.reloadIfChanged()).isFalse();

        Files.writeString(f, "salt: r\narms: [{name: b, model: 2, share: 1, score: {weighted_sum: {click: 1}}}]\n");
        assertThat(w.reloadIfChanged()).isTrue();
        RankResponse r = stub.rank(req("d1"));
        assertThat(r.getArm()).isEqualTo("b");
        assertThat(r.getModelVersion()).isEqualTo(2);
        assertThat(r.getCandidates(0).getScore()).isEqualTo(r.getCandidates(0).getTaskScores(0).getProbability());

        // Broken files are refused; arm b keeps serving.
        for (String broken : new String[] {
            "salt: r\narms: [{name: b, model: 2, share: 0.5}]\n",
            "salt: r\narms: [{name: c, model: 9, share: 1}]\n",
            "salt: r\narms: [{name: c, model: 2, share: 1, score: {product: {dwell: 1}}}]\n",
            "salt: [\n"}) {
          Files.writeString(f, broken);
          assertThat(w.reloadIfChanged()).as(broken).isFalse();
          assertThat(stub.rank(req("d1")).getArm()).isEqualTo("b");
        }

        // Two arms with new shares.
        Files.writeString(f, "salt: r\narms: [{name: a, model: production, share: 0.5}, {name: b, model: 2, share: 0.5}]\n");
        assertThat(w.reloadIfChanged()).isTrue();
        ArmAssigner assigner = new ArmAssigner("r", java.util.List.of("a", "b"), new double[] {0.5, 0.5});
        for (int u = 0; u < 20; u++) {
          assertThat(stub.rank(req("d" + u)).getArm()).isEqualTo(assigner.assign("d" + u));
        }
      } finally {
        ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }
}
