package io.hiformer.ranker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.hiformer.features.Featurizer;
import io.hiformer.features.RawRecord;
import io.hiformer.model.Batch;
import io.hiformer.model.ModelRegistry;
import io.hiformer.proto.Candidate;
import io.hiformer.proto.FeatureValue;
import io.hiformer.proto.RankRequest;
import io.hiformer.proto.RankResponse;
import io.hiformer.proto.RankerGrpc;
import io.hiformer.proto.ScoredCandidate;
import io.hiformer.proto.TaskScore;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Rank API end to end: a real Netty server on a loopback port and a real channel. */
class RankServiceTest {
  @TempDir
  static Path dir;

  static ModelRegistry registry;
  static LoadedModel v1;
  static LoadedModel v2;
  static RankerServer server;
  static ManagedChannel channel;
  static RankerGrpc.RankerBlockingStub ranker;

  @BeforeAll
  static void start() throws IOException {
    registry = ModelRegistry.open(dir.resolve("registry"));
    TinyModels.publish(registry, 1);
    TinyModels.publish(registry, 2);
    v1 = LoadedModel.load(registry, registry.version(TinyModels.NAME, 1), 1);
    v2 = LoadedModel.load(registry, registry.resolve(TinyModels.NAME, "latest").orElseThrow(), 1);
    server = startServer(new RankService(v1));
    channel = channel(server);
    ranker = RankerGrpc.newBlockingStub(channel);
  }

  @AfterAll
  static void stop() throws InterruptedException {
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    server.close();
    v1.close();
    v2.close();
  }

  static RankerServer startServer(RankService service) throws IOException {
    return RankerServer.start(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), service,
        RankerServer.DEFAULT_MAX_INBOUND_MESSAGE_BYTES, Duration.ofSeconds(30));
  }

  static ManagedChannel channel(RankerServer s) {
    return ManagedChannelBuilder.forAddress(InetAddress.getLoopbackAddress().getHostAddress(), s.port())
        .usePlaintext().build();
  }

  static FeatureValue cat(String v) {
    return FeatureValue.newBuilder().setCategorical(v).build();
  }

  static FeatureValue dense(double v) {
    return FeatureValue.newBuilder().setDense(v).build();
  }

  static Candidate item(String id, double price) {
    return Candidate.newBuilder().setItemId(id).putFeatures("price", dense(price)).build();
  }

  static RankRequest.Builder request(String user, Candidate... candidates) {
    return RankRequest.newBuilder().setUserId(user).putContext("hour", cat("2")).addAllCandidates(List.of(candidates));
  }

  /** Scores of the request's candidates computed directly with the model's Featurizer and CpuScorer. */
  static float[] direct(LoadedModel m, RankRequest r) {
    int n = r.getCandidatesCount();
    int tasks = m.parameters().config().numTasks();
    Featurizer f = new Featurizer(m.transforms());
    Batch b = new Batch(m.parameters().config(), n);
    for (Candidate c : r.getCandidatesList()) {
      Map<String, String> row = new HashMap<>();
      row.put("user_id", r.getUserId());
      row.put("item_id", c.getItemId());
      row.put("hour", r.getContextMap().get("hour").getCategorical());
      row.put("price", Double.toString(c.getFeaturesMap().get("price").getDense()));
      f.add(RawRecord.of(row), b);
    }
    float[] logits = new float[n * tasks];
    m.scorer().score(b, logits);
    float[] scores = new float[n];
    for (int i = 0; i < n; i++) {
      double sum = 0;
      for (int t = 0; t < tasks; t++) {
        sum += 1 / (1 + Math.exp(-logits[i * tasks + t]));
      }
      scores[i] = (float) (sum / tasks);
    }
    return scores;
  }

  @Test
  void ranksLikeDirectScoringBestFirst() {
    RankRequest req = request("u1", item("i0", 3), item("i1", 0.5), item("i2", 9), item("i3", 4.5), item("i4", 12))
        .setRequestId("req-1").build();
    float[] expected = direct(v1, req);
    RankResponse resp = ranker.rank(req);

    assertThat(resp.getRequestId()).isEqualTo("req-1");
    assertThat(resp.getModelName()).isEqualTo(TinyModels.NAME);
    assertThat(resp.getModelVersion()).isEqualTo(1);
    assertThat(resp.getArm()).isEqualTo("default");
    assertThat(resp.getCandidatesList()).hasSize(5);
    for (int p = 0; p < 5; p++) {
      ScoredCandidate c = resp.getCandidates(p);
      assertThat(c.getPosition()).isEqualTo(p);
      int i = Integer.parseInt(c.getItemId().substring(1));
      assertThat(c.getScore()).isCloseTo(expected[i], org.assertj.core.data.Offset.offset(1e-6f));
      assertThat(c.getTaskScoresList()).extracting(TaskScore::getTask).containsExactly("click", "like");
      float mean = (c.getTaskScores(0).getProbability() + c.getTaskScores(1).getProbability()) / 2;
      assertThat(c.getScore()).isCloseTo(mean, org.assertj.core.data.Offset.offset(1e-6f));
      if (p > 0) {
        assertThat(c.getScore()).isLessThanOrEqualTo(resp.getCandidates(p - 1).getScore());
      }
    }
    // The same order as sorting the direct scores.
    Integer[] order = {0, 1, 2, 3, 4};
    java.util.Arrays.sort(order, (a, b) -> Float.compare(expected[b], expected[a]));
    assertThat(resp.getCandidatesList()).extracting(ScoredCandidate::getItemId)
        .containsExactly(java.util.Arrays.stream(order).map(i -> "i" + i).toArray(String[]::new));

    RankResponse top2 = ranker.rank(req.toBuilder().setTopK(2).build());
    assertThat(top2.getCandidatesList()).containsExactlyElementsOf(resp.getCandidatesList().subList(0, 2));
    RankResponse topMany = ranker.rank(req.toBuilder().setTopK(50).build());
    assertThat(topMany.getCandidatesList()).containsExactlyElementsOf(resp.getCandidatesList());
  }

  @Test
  void userAndContextInputsTransformedOncePerRequestEqualTheFeaturizersRows() {
    RankRequest req = request("u2", item("i0", 3), item("new", 0.5),
        item("i4", 12).toBuilder().putFeatures("hour", cat("3")).build()).build();
    java.util.concurrent.atomic.AtomicReference<Batch> seen = new java.util.concurrent.atomic.AtomicReference<>();
    server.service().onScored((request, id, arm, inputs, probabilities, scores, order, returned) -> {
      // Copied: the batch is reused once the call ends.
      Batch copy = new Batch(v1.parameters().config(), inputs.size());
      for (int b = 0; b < inputs.size(); b++) {
        int[] cats = new int[v1.parameters().config().categoricalFields().size()];
        for (int c = 0; c < cats.length; c++) {
          cats[c] = inputs.categorical(b, c);
        }
        copy.add(cats, new int[0][], new float[] {inputs.dense(b, 0)}, null, null);
      }
      seen.set(copy);
    });
    try {
      ranker.rank(req);
    } finally {
      server.service().onScored(null);
    }
    // Each candidate's full row through the Featurizer, the per-candidate way; a context field
    // ("hour") in a candidate's features is not an item field, so it is ignored.
    Featurizer f = new Featurizer(v1.transforms());
    Batch expected = new Batch(v1.parameters().config(), 3);
    for (var c : req.getCandidatesList()) {
      f.add(RawRecord.of(Map.of("user_id", "u2", "item_id", c.getItemId(), "hour", "2",
          "price", Double.toString(c.getFeaturesMap().get("price").getDense()))), expected);
    }
    Batch got = seen.get();
    assertThat(got.size()).isEqualTo(3);
    for (int b = 0; b < 3; b++) {
      for (int c = 0; c < 3; c++) {
        assertThat(got.categorical(b, c)).as("row %d field %d", b, c).isEqualTo(expected.categorical(b, c));
      }
      assertThat(got.dense(b, 0)).isEqualTo(expected.dense(b, 0));
    }
    assertThat(got.categorical(1, 1)).as("an unseen item gets id 0").isZero();
    assertThat(got.categorical(0, 0)).as("a known user").isPositive();
  }

  @Test
  void generatesRequestIdWhenEmpty() {
    RankResponse a = ranker.rank(request("u1", item("i0", 1)).build());
    RankResponse b = ranker.rank(request("u1", item("i0", 1)).build());
    assertThat(a.getRequestId()).isNotEmpty().isNotEqualTo(b.getRequestId());
  }

  @Test
  void scoresUnknownUsersItemsAndMissingFeatures() {
    RankRequest req = RankRequest.newBuilder().setUserId("never-seen")
        .addCandidates(Candidate.newBuilder().setItemId("new-item"))
        .addCandidates(item("i1", 2).toBuilder().putFeatures("not_a_field", cat("x")))
        .build();
    RankResponse resp = ranker.rank(req);
    assertThat(resp.getCandidatesList()).extracting(ScoredCandidate::getItemId)
        .containsExactlyInAnyOrder("new-item", "i1");
    assertThat(resp.getCandidatesList()).allSatisfy(c -> assertThat(c.getScore()).isBetween(0f, 1f));
  }

  @Test
  void rejectsInvalidRequestsNamingTheField() {
    assertInvalid(request("", item("i0", 1)).build(), "user_id is empty");
    assertInvalid(request("u1").build(), "candidates is empty");
    assertInvalid(request("u1", item("i0", 1), item("i1", 1), item("i0", 2)).build(),
        "candidates[2].item_id 'i0' is a duplicate");
    assertInvalid(request("u1", item("i0", 1), item("", 1)).build(), "candidates[1].item_id is empty");
    assertInvalid(request("u1", item("i0", 1), item("i1", Double.NaN)).build(),
        "candidates[1].features[price].dense is NaN");
    assertInvalid(request("u1", item("i0", 1)).putContext("price", dense(Double.POSITIVE_INFINITY)).build(),
        "context[price].dense is Infinity");
    // Finite as a double, not as the float the model computes in.
    assertInvalid(request("u1", item("i0", 1), item("i1", 1e39)).build(),
        "candidates[1].features[price].dense is 1.0E39, beyond the float range");
    assertInvalid(request("u1", item("i0", 1)).putContext("price", dense(-1e39)).build(),
        "context[price].dense is -1.0E39, beyond the float range");
    assertInvalid(request("u1", item("i0", 1), Candidate.newBuilder().setItemId("i1")
        .putFeatures("price", cat("1e39")).build()).build(), "candidates[1] (item_id 'i1'): field 'price'");
    assertInvalid(request("u1", item("i0", 1)).setRequestId("x".repeat(129)).build(), "request_id");
    assertInvalid(request("u1", item("i0", 1)).setArm("treatment").build(), "arm 'treatment'");
    assertInvalid(request("u1", item("i0", 1)).setModelVersion(7).build(), "model_version 7");
    // A present value the transform cannot read names the candidate.
    assertInvalid(request("u1", item("i0", 1), Candidate.newBuilder().setItemId("i1")
        .putFeatures("price", cat("cheap")).build()).build(), "candidates[1] (item_id 'i1')");
  }

  @Test
  void rejectsTooManyCandidates() throws Exception {
    try (var s = startServer(new RankService(v1, RankOptions.DEFAULTS.withMaxCandidates(2)))) {
      ManagedChannel ch = channel(s);
      try {
        assertThatThrownBy(() -> RankerGrpc.newBlockingStub(ch)
            .rank(request("u1", item("a", 1), item("b", 1), item("c", 1)).build()))
            .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
              assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
              assertThat(e.getStatus().getDescription()).contains("candidates has 3 entries; at most 2");
            });
      } finally {
        ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }

  static void assertInvalid(RankRequest req, String message) {
    assertThatThrownBy(() -> ranker.rank(req)).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
      assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
      assertThat(e.getStatus().getDescription()).contains(message);
    });
  }

  @Test
  void healthReportsServing() {
    var health = HealthGrpc.newBlockingStub(channel);
    assertThat(health.check(HealthCheckRequest.getDefaultInstance()).getStatus()).isEqualTo(ServingStatus.SERVING);
    assertThat(health.check(HealthCheckRequest.newBuilder().setService(RankerGrpc.SERVICE_NAME).build()).getStatus())
        .isEqualTo(ServingStatus.SERVING);
  }

  @Test
  void swapServesTheNewVersionToLaterCalls() throws Exception {
    RankService service = new RankService(v1);
    try (var s = startServer(service)) {
      ManagedChannel ch = channel(s);
      try {
        var stub = RankerGrpc.newBlockingStub(ch);
        RankRequest req = request("u2", item("i0", 1), item("i3", 5), item("i4", 7)).build();
        assertThat(stub.rank(req).getModelVersion()).isEqualTo(1);
        assertThat(service.swap(v2)).isSameAs(v1);
        RankResponse after = stub.rank(req);
        assertThat(after.getModelVersion()).isEqualTo(2);
        float[] expected = direct(v2, req);
        for (ScoredCandidate c : after.getCandidatesList()) {
          int i = req.getCandidatesList().stream().map(Candidate::getItemId).toList().indexOf(c.getItemId());
          assertThat(c.getScore()).isCloseTo(expected[i], org.assertj.core.data.Offset.offset(1e-6f));
        }
      } finally {
        ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }

  @Test
  void closeDrainsCallsInFlightAndRefusesNewOnes() throws Exception {
    CountDownLatch entered = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    java.util.concurrent.atomic.AtomicBoolean hold = new java.util.concurrent.atomic.AtomicBoolean(true);
    ProbabilityCombiner blocking = (p, offset, tasks) -> {
      if (hold.compareAndSet(true, false)) { // only the first call, the one left in flight, blocks
        entered.countDown();
        try {
          release.await();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      return ProbabilityCombiner.MEAN.combine(p, offset, tasks);
    };
    RankService service = new RankService(v1, RankOptions.DEFAULTS.withFormula(blocking));
    RankerServer s = startServer(service);
    ManagedChannel ch = channel(s);
    try {
      Future<RankResponse> inFlight = RankerGrpc.newFutureStub(ch)
          .rank(request("u0", item("i0", 1), item("i1", 2), item("i2", 3)).build());
      entered.await();
      Thread closer = Thread.ofPlatform().start(s::close);
      // New calls are refused once shutdown has begun.
      var stub = RankerGrpc.newBlockingStub(ch);
      Status.Code code = Status.Code.OK;
      while (code == Status.Code.OK) {
        try {
          stub.rank(request("u0", item("i0", 1)).build());
          Thread.sleep(1);
        } catch (StatusRuntimeException e) {
          code = e.getStatus().getCode();
        }
      }
      assertThat(code).isEqualTo(Status.Code.UNAVAILABLE);
      assertThat(closer.isAlive()).isTrue();
      release.countDown();
      RankResponse drained = inFlight.get();
      assertThat(drained.getCandidatesList()).hasSize(3);
      closer.join();
    } finally {
      release.countDown();
      ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      s.close();
    }
  }
}
