package io.hiformer.ranker;

import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.ForwardingServerCallListener.SimpleForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Admits at most {@link #limit()} concurrent calls of the services it intercepts and sheds the
 * rest: a call over the limit fails at once with {@code RESOURCE_EXHAUSTED} ("over the
 * concurrency limit of N calls in flight") instead of queueing. A call's permit is released
 * exactly once, when the call is closed (before its status reaches the client, so a client that
 * has its answer can call again at once), completes, is cancelled or fails to start.
 */
public final class ConcurrencyLimit implements ServerInterceptor {
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
    if (!permits.tryAcquire()) {
      call.close(Status.RESOURCE_EXHAUSTED.withDescription(
          "over the concurrency limit of " + limit + " calls in flight"), new Metadata());
      return new ServerCall.Listener<>() {};
    }
    AtomicBoolean held = new AtomicBoolean(true);
    Runnable release = () -> {
      if (held.compareAndSet(true, false)) {
        permits.release();
      }
    };
    ServerCall<Q, R> releasing = new SimpleForwardingServerCall<>(call) {
      @Override
      public void close(Status status, Metadata trailers) {
        release.run();
        super.close(status, trailers);
      }
    };
    ServerCall.Listener<Q> listener;
    try {
      listener = next.startCall(releasing, headers);
    } catch (RuntimeException | Error e) {
      release.run();
      throw e;
    }
    return new SimpleForwardingServerCallListener<>(listener) {
      @Override
      public void onComplete() {
        release.run();
        super.onComplete();
      }

      @Override
      public void onCancel() {
        release.run();
        super.onCancel();
      }
    };
  }
}
