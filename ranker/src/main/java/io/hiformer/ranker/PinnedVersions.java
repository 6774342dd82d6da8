package io.hiformer.ranker;

import io.hiformer.model.ModelRegistry;
import java.io.IOException;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * Versions that requests pin ({@code model_version}) although no arm serves them, for replays and
 * debugging: loaded on first use by the watcher's {@link Loader} (read at low priority and checked
 * as a swap is) and kept, the {@link #capacity} most recently used; an evicted version closes once
 * its calls end. Concurrent requests for a version that is loading wait for that one load. A
 * version the registry does not hold, or that fails to load, is refused with
 * {@link RankService.InvalidRequest} and not kept.
 */
final class PinnedVersions implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger(PinnedVersions.class.getName());

  /** Reads, checks and starts one version, as a swap does. */
  interface Loader {
    LoadedModel load(ModelRegistry.Version version) throws IOException;
  }

  private final ModelRegistry registry;
  private final String modelName;
  private final Loader loader;
  private final int capacity;
  /** In access order, the eldest first; guarded by this. */
  private final LinkedHashMap<Long, CompletableFuture<LoadedModel>> kept = new LinkedHashMap<>(4, 0.75f, true);
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

  /** Version {@code number}, retained for one call (give it back with {@link LoadedModel#release()}). */
  LoadedModel acquire(long number) {
    while (true) {
      CompletableFuture<LoadedModel> entry;
      boolean load = false;
      synchronized (this) {
        if (closed) {
          throw new IllegalStateException("the server is shutting down");
        }
        entry = kept.get(number);
        if (entry == null) {
          entry = new CompletableFuture<>();
          kept.put(number, entry);
          load = true;
          evictBeyondCapacity();
        }
      }
      if (load) {
        load(number, entry);
      }
      LoadedModel model;
      try {
        model = entry.join();
      } catch (CompletionException e) {
        synchronized (this) {
          kept.remove(number, entry);
        }
        throw new RankService.InvalidRequest(e.getCause().getMessage());
      }
      if (model.retain()) {
        return model;
      }
      // Evicted and closed since it was read: load it again.
      synchronized (this) {
        kept.remove(number, entry);
      }
    }
  }

  private void load(long number, CompletableFuture<LoadedModel> entry) {
    try {
      ModelRegistry.Version v = registry.version(modelName, number);
      LoadedModel m = loader.load(v);
      LOG.log(System.Logger.Level.INFO, "loaded " + m + " for requests that pin it");
      entry.complete(m);
    } catch (NoSuchElementException e) {
      entry.completeExceptionally(new IllegalArgumentException(
          "model_version " + number + " is not in the registry (" + e.getMessage() + ")"));
    } catch (IOException | RuntimeException e) {
      LOG.log(System.Logger.Level.WARNING, "pinned model " + modelName + " v" + number + " refused: " + e);
      entry.completeExceptionally(new IllegalArgumentException(
          "model_version " + number + " cannot be served: " + e.getMessage()));
    }
    boolean shut;
    synchronized (this) {
      shut = closed;
    }
    if (shut) {
      entry.thenAccept(LoadedModel::close);
    }
  }

  /** Gives up the eldest kept versions beyond the capacity; under the monitor. */
  private void evictBeyondCapacity() {
    Iterator<Map.Entry<Long, CompletableFuture<LoadedModel>>> it = kept.entrySet().iterator();
    while (kept.size() > capacity && it.hasNext()) {
      CompletableFuture<LoadedModel> eldest = it.next().getValue();
      it.remove();
      eldest.thenAccept(LoadedModel::close);
    }
  }

  /** Versions kept now, eldest first. */
  synchronized java.util.List<Long> kept() {
    return java.util.List.copyOf(kept.keySet());
  }

  /** Closes every kept version once its calls end; later requests are refused. */
  @Override
  public void close() {
    synchronized (this) {
      closed = true;
      kept.values().forEach(f -> f.thenAccept(LoadedModel::close));
      kept.clear();
    }
  }
}
