package io.hiformer.ranker;

import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * Closes a call whose first request message has not arrived within {@link #timeout()} of its
 * headers, with {@code DEADLINE_EXCEEDED}: a client that opens streams and never sends a request
 * would otherwise hold them (and what the server keeps for each) for as long as it likes. Events
 * that arrive for a call after it was closed this way are dropped. Close it to stop its timer
 * thread.
 */
final class RequestMessageTimeout implements ServerInterceptor, AutoCloseable {
  private final Duration timeout;
  private final long nanos;
  private final ScheduledThreadPoolExecutor timer;

  RequestMessageTimeout(Duration timeout) {
    this.timeout = Objects.requireNonNull(timeout, "timeout");
    if (timeout.isNegative() || timeout.isZero()) {
      throw new IllegalArgumentException("the request message timeout must be positive, got " + timeout);
    }
    this.nanos = timeout.toNanos();
    this.timer = new ScheduledThreadPoolExecutor(1, task -> {
      Thread t = new Thread(task, "hiformer-request-timeout");
      t.setDaemon(true);
      return t;
    });
    timer.setRemoveOnCancelPolicy(true);
  }

  Duration timeout() {
    return timeout;
  }

  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
      ServerCallHandler<Q, R> next) {
    Waiting<Q, R> waiting = new Waiting<>(call);
    waiting.listener = next.startCall(waiting.closing, headers);
    waiting.arm();
    return waiting;
  }

  @Override
  public void close() {
    timer.shutdownNow();
  }

  /** One call until its first message: the timer races the message; the first one wins. */
  private final class Waiting<Q, R> extends ServerCall.Listener<Q> {
    private static final int WAITING = 0;
    private static final int ARRIVED = 1;
    private static final int CLOSED = 2;
    private static final int TIMED_OUT = 3;

    private final ServerCall<Q, R> call;
    final ServerCall<Q, R> closing;
    ServerCall.Listener<Q> listener;
    // guarded by this
    private int state = WAITING;
    private ScheduledFuture<?> expiry;

    Waiting(ServerCall<Q, R> call) {
      this.call = call;
      this.closing = new SimpleForwardingServerCall<>(call) {
        @Override
        public void close(Status status, Metadata trailers) {
          settle(CLOSED);
          super.close(status, trailers);
        }
      };
    }

    synchronized void arm() {
      if (state == WAITING) {
        try {
          expiry = timer.schedule(this::expire, nanos, TimeUnit.NANOSECONDS);
        } catch (java.util.concurrent.RejectedExecutionException stopping) {
          // The server is closing; its shutdown ends the call.
        }
      }
    }

    /** Moves on from WAITING to {@code next}; false when something else already did. */
    private synchronized boolean settle(int next) {
      if (state != WAITING) {
        return false;
      }
      state = next;
      if (expiry != null && next != TIMED_OUT) {
        expiry.cancel(false);
      }
      return true;
    }

    private synchronized boolean timedOut() {
      return state == TIMED_OUT;
    }

    private void expire() {
      if (settle(TIMED_OUT)) {
        call.close(Status.DEADLINE_EXCEEDED.withDescription(
            "no request message arrived within " + timeout.toMillis() + " ms of the call's headers"), new Metadata());
      }
    }

    @Override
    public void onMessage(Q message) {
      settle(ARRIVED);
      if (!timedOut()) {
        listener.onMessage(message);
      }
    }

    @Override
    public void onHalfClose() {
      if (!timedOut()) {
        listener.onHalfClose();
      }
    }

    @Override
    public void onCancel() {
      settle(CLOSED);
      listener.onCancel();
    }

    @Override
    public void onComplete() {
      settle(CLOSED);
      listener.onComplete();
    }

    @Override
    public void onReady() {
      listener.onReady();
    }
  }
}
