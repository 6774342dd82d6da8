package io.hiformer.training;

import io.hiformer.features.BadRowException;
import io.hiformer.features.BadRows;
import io.hiformer.features.Featurizer;
import io.hiformer.features.RawRecord;
import io.hiformer.features.Transforms;
import io.hiformer.model.Batch;
import io.hiformer.model.ModelConfig;
import java.io.IOException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Featurizes raw records on every core into a cache: the calling thread parses (reads the
 * records) and hands chunks to worker threads, each with its own {@link Featurizer}; chunks are
 * written in input order, so the cache is the same whatever the thread count, and bad rows reach
 * {@link BadRows} in input order too. At most two chunks per worker are in flight.
 */
final class ParallelFeaturizer {
  static final int CHUNK = 2048;

  private ParallelFeaturizer() {}

  private record Chunk(Batch batch, List<BadRowException> bad) {}

  /** Featurizes every record into {@code out}; returns the number of examples written. */
  static long run(Iterable<RawRecord> records, Transforms transforms, ModelConfig config, int threads, BadRows bad,
      CacheWriter out, PassProgress progress) throws IOException {
    ThreadLocal<Featurizer> featurizers = ThreadLocal.withInitial(() -> new Featurizer(transforms));
    ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
      Thread t = new Thread(r, "featurize");
      t.setDaemon(true);
      return t;
    });
    ArrayDeque<Future<Chunk>> inFlight = new ArrayDeque<>();
    long written = 0;
    try {
      List<RawRecord> chunk = new ArrayList<>(CHUNK);
      for (RawRecord r : records) {
        chunk.add(r);
        if (chunk.size() == CHUNK) {
          List<RawRecord> work = chunk;
          inFlight.add(pool.submit(() -> featurize(work, featurizers.get(), config)));
          chunk = new ArrayList<>(CHUNK);
          while (inFlight.size() > 2 * threads || (!inFlight.isEmpty() && inFlight.peek().isDone())) {
            written += drain(inFlight.poll(), bad, out, progress);
          }
        }
      }
      if (!chunk.isEmpty()) {
        List<RawRecord> work = chunk;
        inFlight.add(pool.submit(() -> featurize(work, featurizers.get(), config)));
      }
      while (!inFlight.isEmpty()) {
        written += drain(inFlight.poll(), bad, out, progress);
      }
      return written;
    } finally {
      pool.shutdownNow();
    }
  }

  private static Chunk featurize(List<RawRecord> records, Featurizer featurizer, ModelConfig config) {
    Batch batch = new Batch(config, records.size());
    List<BadRowException> bad = new ArrayList<>(0);
    for (RawRecord r : records) {
      try {
        featurizer.add(r, batch);
      } catch (BadRowException e) {
        bad.add(e);
      }
    }
    return new Chunk(batch, bad);
  }

  private static long drain(Future<Chunk> next, BadRows bad, CacheWriter out, PassProgress progress)
      throws IOException {
    Chunk c;
    try {
      c = next.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while featurizing", e);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof RuntimeException re) {
        throw re;
      }
      throw new IOException("featurizing failed: " + e.getCause(), e.getCause());
    }
    for (BadRowException b : c.bad()) {
      bad.reject(b);
    }
    out.add(c.batch());
    progress.advance(c.batch().size() + c.bad().size());
    return c.batch().size();
  }
}
