package io.hiformer.ops.loadtest;

import io.grpc.CallOptions;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import io.hiformer.model.ModelConfig;
import io.hiformer.proto.RankerGrpc;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Supplier;

/**
 * Load on a Rank server over gRPC: closed loop (virtual users, each sending its next request when
 * the last answers) or open loop (requests at fixed intervals whatever the answers, latency from
 * the intended send time, so no coordinated omission). Either run ends at its end time whatever
 * the server does; calls still out then get their deadline (or a few seconds) to answer.
 */
public final class RankLoad {
  private final ManagedChannel channel;
  private final String target;
  private final List<ModelConfig.Field> fields;
  private final LoadSpec spec;

  /**
   * @param channel from {@link #channel}; the caller closes it
   * @param target the server's address, for the report
   * @param fields the model's fields, to give each a synthetic value, or empty
   */
  public RankLoad(ManagedChannel channel, String target, List<ModelConfig.Field> fields, LoadSpec spec) {
    this.channel = channel;
    this.target = target;
    this.fields = fields;
    this.spec = spec;
  }

  /** A channel to {@code host:port} sending {@code authorization: Bearer token} when a token is given. */
  public static ManagedChannel channel(String host, int port, ChannelCredentials credentials, String token) {
    // Callbacks only count and send the next call, so they run on the transport's thread.
    var builder = Grpc.newChannelBuilderForAddress(host, port, credentials).maxInboundMessageSize(64 << 20)
        .directExecutor();
    if (token != null) {
      Metadata headers = new Metadata();
      headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
      builder.intercept(MetadataUtils.newAttachHeadersInterceptor(headers));
    }
    return builder.build();
  }

  /** Bytes as they are: requests are serialized once when generated, answers are not parsed. */
  private static final MethodDescriptor.Marshaller<byte[]> BYTES = new MethodDescriptor.Marshaller<>() {
    @Override
    public InputStream stream(byte[] value) {
      return new ByteArrayInputStream(value);
    }

    @Override
    public byte[] parse(InputStream stream) {
      try {
        return stream.readAllBytes();
      } catch (IOException e) {
        throw Status.INTERNAL.withDescription("cannot read the answer").withCause(e).asRuntimeException();
      }
    }
  };

  /**
   * Ranker.Rank over pre-serialized requests, so that the generator, which shares the machine with
   * the server, spends little CPU per call: no request building or encoding, no answer decoding.
   */
  private static final MethodDescriptor<byte[], byte[]> RANK_BYTES =
      RankerGrpc.getRankMethod().toBuilder(BYTES, BYTES).build();

  private CallOptions callOptions() {
    return spec.deadlineMs() == null ? CallOptions.DEFAULT
        : CallOptions.DEFAULT.withDeadlineAfter(spec.deadlineMs(), TimeUnit.MILLISECONDS);
  }

  /** {@link SyntheticRequests#cycle} serialized. */
  private Supplier<byte[]> serializedPool(long seed) {
    var requests = SyntheticRequests.cycle(new SyntheticRequests(seed, fields, spec.context(), spec.candidates()),
        spec.distinct());
    byte[][] pool = new byte[spec.distinct()][];
    for (int i = 0; i < pool.length; i++) {
      pool[i] = requests.get().toByteArray();
    }
    return SyntheticRequests.cycle(pool);
  }

  /**
   * {@code concurrency} users, each sending its next request from the callback that receives the
   * answer to its last one. The channel runs callbacks on its event loop ({@code directExecutor}),
   * so no generator thread is woken per call: on a shared machine every such hand-off adds to
   * the latency measured.
   */
  public Report closedLoop(int concurrency) throws InterruptedException {
    Stats stats = new Stats();
    long start = System.nanoTime();
    long measureFrom = spec.measureFrom(start);
    long end = spec.end(start);
    CountDownLatch finished = new CountDownLatch(concurrency);
    for (int u = 0; u < concurrency; u++) {
      new User(serializedPool(spec.seed() + u), stats, measureFrom, end, finished).next();
    }
    // Calls still out at the end get their deadline (or a few seconds) to answer; the run never waits longer.
    long grace = spec.deadlineMs() == null ? 5_000 : spec.deadlineMs() + 1_000;
    finished.await(Math.max(0, end - System.nanoTime()) / 1_000_000 + grace, TimeUnit.MILLISECONDS);
    return new Report("closed loop, concurrency " + concurrency, target, spec.candidates(),
        (System.nanoTime() - measureFrom) / 1e9, stats);
  }

  /** Sees one call's outcome: its status code, answers are not read. */
  private abstract static class Outcome implements StreamObserver<byte[]> {
    abstract void done(Status.Code code);

    @Override
    public final void onNext(byte[] value) {}

    @Override
    public final void onError(Throwable t) {
      done(Status.fromThrowable(t).getCode());
    }

    @Override
    public final void onCompleted() {
      done(Status.Code.OK);
    }
  }

  /** One closed-loop user: a call, then on its answer the next one, until the end time. */
  private final class User extends Outcome {
    private final Supplier<byte[]> requests;
    private final Stats stats;
    private final long measureFrom;
    private final long end;
    private final CountDownLatch finished;
    private long sent;
    /** True while a call is being started: a call that fails at once (no connection) answers within it. */
    private boolean starting;

    User(Supplier<byte[]> requests, Stats stats, long measureFrom, long end, CountDownLatch finished) {
      this.requests = requests;
      this.stats = stats;
      this.measureFrom = measureFrom;
      this.end = end;
      this.finished = finished;
    }

    void next() {
      byte[] request = requests.get();
      sent = System.nanoTime();
      if (sent >= end) {
        finished.countDown();
        return;
      }
      starting = true;
      try {
        ClientCalls.asyncUnaryCall(channel.newCall(RANK_BYTES, callOptions()), request, this);
      } finally {
        starting = false;
      }
    }

    @Override
    void done(Status.Code code) {
      if (sent >= measureFrom) {
        stats.issued.increment();
        stats.record((System.nanoTime() - sent) / 1000, code);
      }
      if (starting) {
        // Answered inside next(): calling it again here would recurse once per failed call.
        ForkJoinPool.commonPool().execute(this::next);
      } else {
        next();
      }
    }
  }

  /** {@code rps} requests per second at fixed intervals; beyond {@code maxInFlight} awaiting an answer, dropped. */
  public Report openLoop(double rps, int maxInFlight) throws InterruptedException {
    Stats stats = new Stats();
    var requests = serializedPool(spec.seed());
    Semaphore inFlight = new Semaphore(maxInFlight);
    long interval = Math.max(1, Math.round(1e9 / rps));
    long start = System.nanoTime();
    long measureFrom = spec.measureFrom(start);
    long end = spec.end(start);
    for (long i = 0; ; i++) {
      long intended = start + i * interval;
      if (intended >= end) {
        break;
      }
      for (long wait = intended - System.nanoTime(); wait > 0; wait = intended - System.nanoTime()) {
        LockSupport.parkNanos(wait);
      }
      byte[] request = requests.get();
      boolean measured = intended >= measureFrom;
      if (measured) {
        stats.issued.increment();
      }
      if (!inFlight.tryAcquire()) {
        if (measured) {
          stats.dropped.increment();
        }
        continue;
      }
      ClientCalls.asyncUnaryCall(channel.newCall(RANK_BYTES, callOptions()), request, new Outcome() {
        @Override
        void done(Status.Code code) {
          if (measured) {
            stats.record((System.nanoTime() - intended) / 1000, code);
          }
          inFlight.release();
        }
      });
    }
    // Let the requests in flight answer (bounded), so they are counted.
    long wait = spec.deadlineMs() == null ? 30_000 : spec.deadlineMs() + 5_000;
    if (inFlight.tryAcquire(maxInFlight, wait, TimeUnit.MILLISECONDS)) {
      inFlight.release(maxInFlight);
    }
    return new Report(String.format(Locale.ROOT, "open loop, %.1f rps", rps), target, spec.candidates(),
        (System.nanoTime() - measureFrom) / 1e9, stats);
  }
}
