package io.hiformer.ranker;

import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.Status;
import io.hiformer.model.ModelRegistry;
import java.io.IOException;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Versions that requests pin ({@code model_version}) although no arm serves them, for replays and
 * debugging: loaded on first use by the watcher's {@link Loader} (read at low priority and checked
 * as a swap is), one load at a time on this cache's own thread, and kept, at most
 * {@link #capacity} of them.
 *
 * <ul>
 *   <li>Loads are single-flight: concurrent requests for a version wait for its one load.
 *   <li>A version loading, awaited or held by a call is never evicted; to make room, the least
 *       recently used of the others goes (it closes at once: no call holds it). When there is none,
 *       a request for another version is refused with {@code RESOURCE_EXHAUSTED} instead of
 *       evicting work in progress (which, reloaded by its waiting caller, would evict the next, for
 *       ever).
 *   <li>A caller stops waiting when its call's deadline passes or it is cancelled; the load goes on
 *       and its version is kept for the next request.
 *   <li>A version the registry does not hold is refused with {@link RankService.InvalidRequest};
 *       one that fails to load is refused likewise and remembered, so later requests for it are
 *       refused at once instead of re-reading and re-hashing its file. The client's message says
 *       that it failed, the server log why (the client is not told server paths).
 * </ul>
 */
final class PinnedVersions implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger(PinnedVersions.class.getName());

  /** Reads, checks and starts one version, as a swap does. */
  interface Loader {
    LoadedModel load(ModelRegistry.Version version) throws IOException;
  }

  /** One kept version: its load, and the requests waiting for it (guarded by the cache). */
  private static final class Entry {
    final CompletableFuture<LoadedModel> model = new CompletableFuture<>();
    int waiters;
  }

  private final ModelRegistry registry;
  private final String modelName;
  private final Loader loader;
  private final int capacity;
  private final ExecutorService loads = Executors.newSingleThreadExecutor(task -> {
    Thread t = new Thread(task, "hiformer-pinned-loader");
    t.setDaemon(true);
    return t;
  });
  /** In access order, the eldest first; guarded by this. */
  private final LinkedHashMap<Long, Entry> kept = new LinkedHashMap<>(4, 0.75f, true);
  /** Versions that failed to load, and what their requests are told; guarded by this. */
  private final Map<Long, String> refused = new HashMap<>();
  private boolean closed;

  PinnedVersions(ModelRegistry registry, String modelName, Loader loader, int capacity) {
    this.registry = Objects.requireNonNull(registry, "registry");
    this.modelName = Objects.requireNonNull(modelName, "modelName");
    this.loader = Objects.requireNonNull(loader, "loader");
    if (capacity < 1) {
      throw new IllegalArgumentException("capacity must be positive, got " + capacity);
    }
    this.capacity = capacity;
  }

  /**
   * Version {@code number}, retained for one call (give it back with {@link LoadedModel#release()});
   * waits for its load as long as the current gRPC context lives.
   */
  LoadedModel acquire(long number) {
    Entry entry;
    synchronized (this) {
      if (closed) {
        throw Status.UNAVAILABLE.withDescription("the server is shutting down").asRuntimeException();
      }
      String refusal = refused.get(number);
      if (refusal != null) {
        throw new RankService.InvalidRequest(refusal);
      }
      entry = kept.get(number);
      if (entry == null) {
        if (kept.size() >= capacity && !evictOne()) {
          throw Status.RESOURCE_EXHAUSTED.withDescription("model_version " + number + " is not loaded, and all "
              + capacity + " places for pinned versions hold versions that are loading or in use; retry later")
              .asRuntimeException();
        }
        Entry fresh = new Entry();
        loads.execute(() -> load(number, fresh));
        kept.put(number, fresh);
        entry = fresh;
      } else if (entry.model.isDone() && !entry.model.isCompletedExceptionally() && entry.model.join().retain()) {
        return entry.model.join();
      }
      entry.waiters++;
    }
    try {
      LoadedModel model = await(number, entry.model);
      synchronized (this) {
        // Under the lock, so no eviction closes it in between: it is awaited until this returns.
        if (model.retain()) {
          return model;
        }
      }
      throw Status.UNAVAILABLE.withDescription("the server is shutting down").asRuntimeException();
    } finally {
      synchronized (this) {
        entry.waiters--;
      }
    }
  }

  /** The loaded version, once {@code load} completes, unless the current call ends first. */
  private static LoadedModel await(long number, CompletableFuture<LoadedModel> load) {
    Context context = Context.current();
    CompletableFuture<Void> gone = new CompletableFuture<>();
    Context.CancellationListener listener = c -> gone.complete(null);
    context.addListener(listener, Runnable::run);
    try {
      CompletableFuture.anyOf(load, gone).join();
    } catch (CompletionException failed) {
      switch (failed.getCause()) {
        case RuntimeException e -> throw e;
        case Error e -> throw e;
        default -> throw new IllegalStateException(failed.getCause());
      }
    } finally {
      context.removeListener(listener);
    }
    if (!load.isDone()) {
      Deadline deadline = context.getDeadline();
      boolean expired = (deadline != null && deadline.isExpired()) || (context.cancellationCause() != null
          && Status.fromThrowable(context.cancellationCause()).getCode() == Status.Code.DEADLINE_EXCEEDED);
      throw new RankService.CallGone(expired, (expired ? "deadline exceeded" : "call cancelled")
          + " while model_version " + number + " was loading");
    }
    return load.join();
  }

  /** On the load thread: loads {@code number}, then completes its entry; never throws. */
  private void load(long number, Entry entry) {
    LoadedModel model = null;
    RuntimeException refusal;
    boolean remember = false;
    try {
      ModelRegistry.Version v = registry.version(modelName, number);
      try {
        model = loader.load(v);
        refusal = null;
        LOG.log(System.Logger.Level.INFO, "loaded " + model + " for requests that pin it");
      } catch (Throwable e) {
        LOG.log(System.Logger.Level.WARNING, "pinned model " + modelName + " v" + number + " refused: " + e);
        remember = true;
        refusal = new RankService.InvalidRequest("model_version " + number
            + " cannot be served: it failed its checks when loaded (the server log says why)");
      }
    } catch (NoSuchElementException e) {
      refusal = new RankService.InvalidRequest("model_version " + number + " is not in the registry");
    } catch (IOException | RuntimeException e) {
      LOG.log(System.Logger.Level.WARNING, "looking up pinned model " + modelName + " v" + number + " failed: " + e);
      refusal = Status.UNAVAILABLE.withDescription("model_version " + number
          + " could not be looked up in the registry; retry later").asRuntimeException();
    }
    synchronized (this) {
      // Completed under the lock, so close() either sees the outcome or is seen here.
      if (refusal == null && closed) {
        model.close();
        refusal = Status.UNAVAILABLE.withDescription("the server is shutting down").asRuntimeException();
      }
      if (refusal != null) {
        kept.remove(number, entry);
        if (remember) {
          refused.put(number, refusal.getMessage());
        }
        entry.model.completeExceptionally(refusal);
      } else if (!entry.model.complete(model)) {
        model.close();
      }
    }
  }

  /**
   * Closes the least recently used kept version that is loaded, awaited by no request and held
   * by no call; false when there is none. Under the monitor.
   */
  private boolean evictOne() {
    Iterator<Entry> it = kept.values().iterator();
    while (it.hasNext()) {
      Entry e = it.next();
      if (e.waiters == 0 && e.model.isDone() && !e.model.isCompletedExceptionally() && !e.model.join().inUse()) {
        it.remove();
        e.model.join().close();
        return true;
      }
    }
    return false;
  }

  /** Versions kept now (loaded or loading), eldest first. */
  synchronized List<Long> kept() {
    return List.copyOf(kept.keySet());
  }

  /** Stops loading, fails requests still waiting and closes every kept version once its calls end. */
  @Override
  public void close() {
    synchronized (this) {
      if (closed) {
        return;
      }
      closed = true;
      for (Entry e : kept.values()) {
        if (!e.model.completeExceptionally(
            Status.UNAVAILABLE.withDescription("the server is shutting down").asRuntimeException())) {
          e.model.thenAccept(LoadedModel::close);
        }
      }
      kept.clear();
    }
    loads.shutdownNow();
  }
}
