package io.hiformer.ranker;

import io.grpc.BindableService;
import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.Status;
import io.grpc.ServerServiceDefinition;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCalls;
import io.grpc.stub.StreamObserver;
import io.hiformer.features.DenseValues;
import io.hiformer.features.online.OnlineStore;
import io.hiformer.features.ranklog.RankLogWriter;
import io.hiformer.model.Batch;
import io.hiformer.proto.Candidate;
import io.hiformer.proto.FeatureValue;
import io.hiformer.proto.RankRequest;
import io.hiformer.proto.RankResponse;
import io.hiformer.proto.RankerGrpc;
import io.hiformer.proto.ScoredCandidate;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The {@code hiformer.v1.Ranker} service: validates a request, featurizes one row per candidate,
 * scores all candidates as one batch and returns them best first.
 *
 * <p>Rows come from {@link RequestRows}: user and context fields read the request's
 * {@code user_id} (under the column {@link RankOptions#userColumn()}) and {@code context}, once per
 * request; item fields read each candidate's {@code item_id} (under {@link RankOptions#itemColumn()}),
 * then its {@code features}, then the request's {@code context}; what the request does not carry
 * comes from the user's and each item's stored features once {@link #useFeatures} names an online
 * store (request-time values win). Feature map keys are matched
 * against each model field's {@code column} (its name unless the schema says otherwise); keys no
 * field reads are ignored and counted ({@link FeatureMetrics}); a stored value a field cannot use
 * reads as missing and is counted, so one item's bad data never fails a call. Unknown users, items
 * and values get the missing or unseen id, so they are scored, never rejected. Request buffers are
 * borrowed from the model per call.
 *
 * <p>Per-task probabilities are the sigmoid of the logits; the combined score is
 * {@link RankOptions#formula()} (default: their mean). The served model sits in an
 * {@link AtomicReference}: {@link #swap} replaces it for later calls while calls in flight finish
 * with the model they started with, each holding a reference on it ({@link LoadedModel#retain()}),
 * so a replaced model that its owner has closed shuts down when the last of them ends.
 *
 * <p>Several experiment {@link ServedArms} may be served: each request goes to its {@code arm}
 * override or to the arm {@link ArmAssigner} picks for its {@code unit_id} (else {@code user_id}),
 * and is scored with that arm's model and formula.
 */
final class RankService implements BindableService {
  public static final String DEFAULT_ARM = "default";
  public static final int MAX_REQUEST_ID_LENGTH = 128;

  private final AtomicReference<ServedArms> current;
  private final RankOptions options;
  private final RankerMetrics metrics;
  private final FeatureMetrics featureMetrics;
  private volatile OnlineStore features;

  /** Serves {@code model} as the single arm {@value #DEFAULT_ARM} with {@link RankOptions#formula()}. */
  public RankService(LoadedModel model, RankOptions options) {
    this(ServedArms.single(Objects.requireNonNull(model, "model"), options.formula()), options);
  }

  public RankService(LoadedModel model) {
    this(model, RankOptions.DEFAULTS);
  }

  /** Serves several arms; {@link RankOptions#formula()} is unused (each arm has its own). */
  public RankService(ServedArms arms, RankOptions options) {
    this.current = new AtomicReference<>(Objects.requireNonNull(arms, "arms"));
    this.options = Objects.requireNonNull(options, "options");
    this.metrics = new RankerMetrics();
    this.featureMetrics = new FeatureMetrics(metrics.registry());
    metrics.served(arms);
  }

  private RankService(RankOptions options) {
    this.current = new AtomicReference<>();
    this.options = Objects.requireNonNull(options, "options");
    this.metrics = new RankerMetrics();
    this.featureMetrics = new FeatureMetrics(metrics.registry());
  }

  /**
   * A service with no model yet (a ranker started before its registry has one): Rank answers
   * UNAVAILABLE, {@link #arms()} and {@link #model()} are null, until {@link #setArms}.
   */
  public static RankService awaitingModel(RankOptions options) {
    return new RankService(options);
  }

  /** This service's metrics (its own Prometheus registry); {@link RankerServer} applies their interceptor. */
  public RankerMetrics metrics() {
    return metrics;
  }

  /**
   * Fills, for later calls, what requests do not carry from {@code store}'s user and item features
   * (null: from nothing). Lookups are lock-free reads of the store's current snapshots.
   */
  public void useFeatures(OnlineStore store) {
    this.features = store;
  }

  /** The model new calls of the first arm are served by; null before the first ({@link #awaitingModel}). */
  public LoadedModel model() {
    ServedArms arms = current.get();
    return arms == null ? null : arms.arms().getFirst().model();
  }

  /** The arms new calls are served by; null before the first ({@link #awaitingModel}). */
  public ServedArms arms() {
    return current.get();
  }

  /**
   * Serves later calls with {@code next} arms; returns the arms replaced. Calls in flight keep
   * the arms they started with, so close models no longer served only once they have drained.
   */
  ServedArms setArms(ServedArms next) {
    ServedArms previous = current.getAndSet(Objects.requireNonNull(next, "next"));
    metrics.served(next);
    metrics.swapped();
    return previous;
  }

  /**
   * With a single arm, serves later calls with {@code next}; returns the model it replaces. Calls
   * in flight keep the model they started with, so close the returned one only once they have
   * drained. Fails when several arms are served (use {@link #setArms}).
   */
  public LoadedModel swap(LoadedModel next) {
    Objects.requireNonNull(next, "next");
    while (true) {
      ServedArms arms = current.get();
      if (arms == null || arms.arms().size() != 1) {
        throw new IllegalStateException("swap needs a single arm; "
            + (arms == null ? "none" : arms.assigner().names()) + " are served");
      }
      ServedArm a = arms.arms().getFirst();
      ServedArms replaced = new ServedArms(arms.assigner(), List.of(new ServedArm(a.name(), next, a.formula())));
      if (current.compareAndSet(arms, replaced)) {
        metrics.served(replaced);
        metrics.swapped();
        return a.model();
      }
    }
  }

  /**
   * The Rank method bound so that each call's {@link RankerMetrics.CallInfo} (which the metrics
   * interceptor attaches to the call) is handed to {@link #rank(RankRequest, StreamObserver,
   * RankerMetrics.CallInfo)} as an argument.
   */
  @Override
  public ServerServiceDefinition bindService() {
    return ServerServiceDefinition.builder(RankerGrpc.getServiceDescriptor())
        .addMethod(RankerGrpc.getRankMethod(), (call, headers) -> ServerCalls.<RankRequest, RankResponse>asyncUnaryCall(
            (request, responses) -> rank(request, responses, RankerMetrics.callInfo(call))).startCall(call, headers))
        .build();
  }

  /** Answers one call with no metrics interceptor around it (a detached {@link RankerMetrics.CallInfo}). */
  void rank(RankRequest request, StreamObserver<RankResponse> responses) {
    rank(request, responses, new RankerMetrics.CallInfo());
  }

  /** Answers one call, telling {@code call} its arm and the candidates scored. */
  void rank(RankRequest request, StreamObserver<RankResponse> responses, RankerMetrics.CallInfo call) {
    RankResponse response;
    try {
      response = rank(request, call);
    } catch (CallGone e) {
      if (e.expired) {
        fail(responses, Status.DEADLINE_EXCEEDED.withDescription(e.getMessage()));
      }
      // A cancelled call gets no answer: the caller has gone.
      return;
    } catch (InvalidRequest e) {
      fail(responses, Status.INVALID_ARGUMENT.withDescription(e.getMessage()));
      return;
    } catch (StatusRuntimeException e) {
      fail(responses, e.getStatus());
      return;
    } catch (RuntimeException e) {
      fail(responses, Status.INTERNAL.withDescription("ranking failed: " + e).withCause(e));
      return;
    }
    responses.onNext(response);
    responses.onCompleted();
  }

  /** Answers {@code status}, its description shortened: it may quote client input ({@link Echo}). */
  private static void fail(StreamObserver<RankResponse> responses, Status status) {
    String description = Echo.of(status.getDescription(), Echo.MAX_DESCRIPTION);
    responses.onError(status.withDescription(description).asRuntimeException());
  }

  /**
   * Ranks {@code request} with the current model; throws {@link InvalidRequest} for a bad one and
   * {@link CallGone} when the current gRPC context's deadline has passed or it was cancelled
   * (checked before featurizing, before scoring and before answering).
   */
  RankResponse rank(RankRequest request) {
    return rank(request, new RankerMetrics.CallInfo());
  }

  private RankResponse rank(RankRequest request, RankerMetrics.CallInfo call) {
    ServedArm arm;
    ServedArms arms;
    while (true) {
      arms = current.get();
      if (arms == null) {
        throw Status.UNAVAILABLE.withDescription("no model loaded yet; the ranker serves once one is in the registry")
            .asRuntimeException();
      }
      arm = pickArm(request, arms);
      if (arm.model().retain()) {
        break;
      }
      // Closed since it was read: it has been replaced, so the next read finds its successor.
    }
    long pin = request.getModelVersion();
    if (pin != 0 && pin != arm.model().version()) {
      LoadedModel pinned;
      try {
        pinned = pinned(pin, arm, arms);
      } finally {
        arm.model().release();
      }
      arm = new ServedArm(arm.name(), pinned, arm.formula());
    }
    LoadedModel model = arm.model();
    CallBuffers scratch = model.borrowScratch(options);
    try {
      return rank(request, arm, scratch, call);
    } finally {
      model.recycle(scratch);
      model.release();
    }
  }

  private RankResponse rank(RankRequest request, ServedArm arm, CallBuffers scratch, RankerMetrics.CallInfo call) {
    LoadedModel model = arm.model();
    call.arm = arm.name();
    validate(request, model, scratch);
    checkCallAlive("before featurizing");
    int n = request.getCandidatesCount();
    int tasks = model.parameters().config().numTasks();
    Batch batch;
    try {
      batch = scratch.rows.encode(request, features, featureMetrics);
    } catch (IllegalArgumentException e) {
      throw new InvalidRequest(e.getMessage());
    }

    checkCallAlive("before scoring");
    float[] probabilities = scratch.probabilities;
    model.scorer().score(batch, probabilities);
    call.scored = n;
    float[] scores = scratch.scores;
    for (int i = 0; i < n; i++) {
      for (int t = 0; t < tasks; t++) {
        probabilities[i * tasks + t] = sigmoid(probabilities[i * tasks + t]);
      }
      scores[i] = arm.formula().combine(probabilities, i * tasks, tasks);
    }

    checkCallAlive("after scoring");
    scratch.sortBestFirst(n);
    long topK = Integer.toUnsignedLong(request.getTopK()); // uint32: 2^31 and more are large, not negative
    int k = topK == 0 ? n : (int) Math.min(n, topK);
    String requestId = request.getRequestId().isEmpty() ? UUID.randomUUID().toString() : request.getRequestId();
    ScoredListener listener = scoredListener;
    if (listener != null) {
      listener.scored(request, requestId, arm, batch, probabilities, scores, scratch, k);
    }

    List<String> taskNames = model.parameters().config().tasks();
    RankResponse.Builder out = RankResponse.newBuilder()
        .setRequestId(requestId)
        .setModelName(model.name())
        .setModelVersion(model.version())
        .setArm(arm.name());
    for (int p = 0; p < k; p++) {
      int i = scratch.index(p);
      ScoredCandidate.Builder sc = out.addCandidatesBuilder()
          .setItemId(request.getCandidates(i).getItemId())
          .setPosition(p)
          .setScore(scores[i]);
      for (int t = 0; t < tasks; t++) {
        sc.addTaskScoresBuilder().setTask(taskNames.get(t)).setProbability(probabilities[i * tasks + t]);
      }
    }
    return out.build();
  }

  /**
   * Sees each scored request with the exact model inputs of its candidates (row {@code i} of
   * {@code inputs} is candidate {@code i}: categorical ids, bag ids and dense values after the
   * transforms), their per-task probabilities ({@code [i * tasks + t]}), combined scores and ranks
   * ({@code order.index(p)} is the candidate at 0-based position {@code p}; the first {@code
   * returned} positions are answered), under the answer's request id. Called on the call's thread
   * before the answer is built; the arrays are reused once it returns, so copy what must outlive
   * the call. The place for the rank log ({@link RankLog}).
   */
  interface ScoredListener {
    void scored(RankRequest request, String requestId, ServedArm arm, Batch inputs, float[] probabilities,
        float[] scores, CallBuffers order, int returned);
  }

  private volatile ScoredListener scoredListener;

  /** Sets (or, with null, removes) the listener that sees every scored request. */
  void onScored(ScoredListener listener) {
    this.scoredListener = listener;
  }

  /**
   * Writes every answered request to the rank log through {@code writer} (see {@link RankLog}),
   * and adds the writer's counts to this service's metrics. The writer never blocks a call.
   */
  public void logTo(RankLogWriter writer) {
    metrics.rankLog(writer);
    onScored(new RankLog(writer));
  }

  /**
   * Loads versions that requests pin but no arm serves from {@code versions} (null: such requests
   * are refused). The caller keeps ownership and closes it after the server has stopped.
   */
  void pinFrom(PinnedVersions versions) {
    this.pinnedVersions = versions;
  }

  private volatile PinnedVersions pinnedVersions;

  /**
   * Version {@code pin} of the served model, retained for one call: the model of an arm that
   * serves it, else one loaded for pinning. Its tasks must be the arm's, whose formula combines them.
   */
  private LoadedModel pinned(long pin, ServedArm arm, ServedArms arms) {
    if (pin < 0) {
      throw new InvalidRequest("model_version must not be negative, got " + pin);
    }
    LoadedModel model = null;
    for (LoadedModel m : arms.models()) {
      if (m.version() == pin && m.retain()) {
        model = m;
        break;
      }
    }
    if (model == null) {
      PinnedVersions versions = pinnedVersions;
      if (versions == null) {
        throw new InvalidRequest("model_version " + pin + " is not served; this server serves "
            + arm.model().name() + " v" + arm.model().version());
      }
      model = versions.acquire(pin);
    }
    List<String> tasks = model.parameters().config().tasks();
    List<String> armTasks = arm.model().parameters().config().tasks();
    if (!tasks.equals(armTasks)) {
      model.release();
      throw new InvalidRequest("model_version " + pin + " has tasks " + tasks + "; arm '" + arm.name()
          + "' scores " + armTasks);
    }
    return model;
  }

  /** The request's arm: its {@code arm} override, else the assigner's pick for its unit. */
  private static ServedArm pickArm(RankRequest r, ServedArms arms) {
    if (!r.getArm().isEmpty()) {
      ServedArm a = arms.arm(r.getArm());
      if (a == null) {
        throw new InvalidRequest("arm '" + Echo.of(r.getArm()) + "' is not a configured arm; arms: "
            + arms.assigner().names());
      }
      return a;
    }
    if (arms.arms().size() == 1) {
      return arms.arms().getFirst();
    }
    String unit = r.getUnitId().isEmpty() ? r.getUserId() : r.getUnitId();
    return arms.arms().get(arms.assigner().index(unit));
  }

  private void validate(RankRequest r, LoadedModel model, CallBuffers scratch) {
    if (r.getRequestId().length() > MAX_REQUEST_ID_LENGTH) {
      throw new InvalidRequest("request_id is longer than " + MAX_REQUEST_ID_LENGTH + " characters");
    }
    if (r.getUserId().isEmpty()) {
      throw new InvalidRequest("user_id is empty");
    }
    if (r.getCandidatesCount() == 0) {
      throw new InvalidRequest("candidates is empty");
    }
    if (r.getCandidatesCount() > options.maxCandidates()) {
      throw new InvalidRequest("candidates has " + r.getCandidatesCount() + " entries; at most "
          + options.maxCandidates() + " are allowed");
    }
    checkFeatures(-1, r.getContextMap());
    Set<String> seen = scratch.itemIds;
    seen.clear();
    for (int i = 0; i < r.getCandidatesCount(); i++) {
      Candidate c = r.getCandidates(i);
      if (c.getItemId().isEmpty()) {
        throw new InvalidRequest("candidates[" + i + "].item_id is empty");
      }
      if (!seen.add(c.getItemId())) {
        throw new InvalidRequest("candidates[" + i + "].item_id '" + Echo.of(c.getItemId()) + "' is a duplicate");
      }
      checkFeatures(i, c.getFeaturesMap());
    }
  }

  /** Checks the dense values of the context ({@code candidate} -1) or of a candidate's features. */
  private static void checkFeatures(int candidate, Map<String, FeatureValue> features) {
    for (Map.Entry<String, FeatureValue> e : features.entrySet()) {
      FeatureValue v = e.getValue();
      String problem = v.hasDense() ? DenseValues.problem(v.getDense()) : null;
      if (problem != null) {
        String where = candidate < 0 ? "context" : "candidates[" + candidate + "].features";
        throw new InvalidRequest(where + "[" + Echo.of(e.getKey()) + "].dense " + problem + "; it must be a finite float");
      }
    }
  }

  private static float sigmoid(float x) {
    return (float) (1.0 / (1.0 + Math.exp(-x)));
  }

  /** Throws {@link CallGone} when the current context's deadline has passed or it was cancelled. */
  private static void checkCallAlive(String where) {
    Context context = Context.current();
    Deadline deadline = context.getDeadline();
    if (deadline != null && deadline.isExpired()) {
      throw new CallGone(true, "deadline exceeded " + where);
    }
    if (context.isCancelled()) {
      Throwable cause = context.cancellationCause();
      boolean expired = cause != null && Status.fromThrowable(cause).getCode() == Status.Code.DEADLINE_EXCEEDED;
      throw new CallGone(expired, (expired ? "deadline exceeded " : "call cancelled ") + where);
    }
  }

  /** The caller's deadline passed ({@code expired}) or the call was cancelled. */
  static final class CallGone extends RuntimeException {
    final boolean expired;

    CallGone(boolean expired, String message) {
      super(message, null, false, false);
      this.expired = expired;
    }
  }

  /** A request that fails validation; its message names the offending field. */
  static final class InvalidRequest extends RuntimeException {
    InvalidRequest(String message) {
      super(message, null, false, false);
    }
  }
}
