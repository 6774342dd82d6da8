package io.hiformer.ranker;

import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Admits at most {@link #limit()} concurrent calls of the services it intercepts and sheds the
 * rest: a call over the limit fails at once with {@code RESOURCE_EXHAUSTED} ("over the
 * concurrency limit of N calls in flight") instead of queueing. It counts work, not open streams:
 * a call takes its permit when its request message arrives, so a stream that only sent headers
 * holds none ({@link RequestMessageTimeout} closes such streams). A call's permit is released
 * exactly once, when the call is closed (before its status reaches the client, so a client that
 * has its answer can call again at once), completes or is cancelled.
 */
final class ConcurrencyLimit implements ServerInterceptor {
  private final int limit;
  private final Semaphore permits;

  public ConcurrencyLimit(int limit) {
    if (limit < 1) {
      throw new IllegalArgumentException("the concurrency limit must be positive, got " + limit);
    }
    this.limit = limit;
    this.permits = new Semaphore(limit);
  }

  public int limit() {
    return limit;
  }

  /** Calls holding a permit now. */
  public int inFlight() {
    return limit - permits.availablePermits();
  }

  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
      ServerCallHandler<Q, R> next) {
    Admission<Q, R> admission = new Admission<>(call);
    admission.listener = next.startCall(admission.releasing, headers);
    return admission;
  }

  /**
   * One call's permit, taken with its first message. A call shed at that point never reaches the
   * service, so its later events are dropped. gRPC delivers one call's events one at a time; the
   * service may close the call from another thread.
   */
  private final class Admission<Q, R> extends ServerCall.Listener<Q> {
    private static final int WAITING = 0;
    private static final int ADMITTED = 1;
    private static final int DONE = 2;

    private final AtomicInteger state = new AtomicInteger(WAITING);
    private final ServerCall<Q, R> call;
    private volatile boolean shed;
    final ServerCall<Q, R> releasing;
    ServerCall.Listener<Q> listener;

    Admission(ServerCall<Q, R> call) {
      this.call = call;
      this.releasing = new SimpleForwardingServerCall<>(call) {
        @Override
        public void close(Status status, Metadata trailers) {
          release();
          super.close(status, trailers);
        }
      };
    }

    private void release() {
      if (state.getAndSet(DONE) == ADMITTED) {
        permits.release();
      }
    }

    @Override
    public void onMessage(Q message) {
      if (shed) {
        return;
      }
      if (state.get() == WAITING) {
        if (!permits.tryAcquire()) {
          shed = true;
          state.set(DONE);
          call.close(Status.RESOURCE_EXHAUSTED.withDescription(
              "over the concurrency limit of " + limit + " calls in flight"), new Metadata());
          return;
        }
        if (!state.compareAndSet(WAITING, ADMITTED)) {
          permits.release(); // closed meanwhile
        }
      }
      if (state.get() == ADMITTED) {
        listener.onMessage(message);
      }
    }

    @Override
    public void onHalfClose() {
      if (!shed) {
        listener.onHalfClose();
      }
    }

    @Override
    public void onCancel() {
      release();
      listener.onCancel();
    }

    @Override
    public void onComplete() {
      release();
      listener.onComplete();
    }

    @Override
    public void onReady() {
      listener.onReady();
    }
  }
}
