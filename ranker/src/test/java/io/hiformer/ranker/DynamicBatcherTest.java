package io.hiformer.ranker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hiformer.kernels.CpuKernels;
import io.hiformer.model.Batch;
import io.hiformer.model.CpuScorer;
import io.hiformer.model.Hiformer;
import io.hiformer.model.LogitScorer;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.Parameters;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * The batcher over the real CPU scorer (the GPU path is the same code with another target):
 * merged calls get exactly their own logits, batches respect the size bound, a bad call fails
 * alone.
 */
class DynamicBatcherTest {
  private final ModelConfig config = TinyModels.config(TinyModels.transforms());
  private final Parameters params = Parameters.initialize(config, 3);

  /** The CPU scorer, counting calls and the largest batch it was given. */
  private final class Counting implements LogitScorer {
    final CpuScorer scorer = new CpuScorer(new Hiformer(params, CpuKernels.best()), 2);
    final AtomicInteger calls = new AtomicInteger();
    final AtomicInteger largest = new AtomicInteger();
    volatile boolean closed;

    @Override
    public void score(Batch batch, float[] logits) {
      calls.incrementAndGet();
      largest.accumulateAndGet(batch.size(), Math::max);
      scorer.score(batch, logits);
    }

    @Override
    public String description() {
      return "counting " + scorer.description();
    }

    @Override
    public void close() {
      closed = true;
      scorer.close();
    }
  }

  @Test
  void concurrentCallsAreMergedAndGetTheirOwnLogits() throws Exception {
    Counting target = new Counting();
    int calls = 200;
    List<Batch> batches = new ArrayList<>();
    List<float[]> want = new ArrayList<>();
    SplittableRandom rnd = new SplittableRandom(5);
    try (CpuScorer direct = new CpuScorer(new Hiformer(params, CpuKernels.best()), 1)) {
      for (int i = 0; i < calls; i++) {
        Batch b = randomBatch(1 + rnd.nextInt(40), rnd);
        float[] w = new float[b.size() * config.numTasks()];
        direct.score(b, w);
        batches.add(b);
        want.add(w);
      }
    }
    ExecutorService pool = Executors.newFixedThreadPool(8);
    try (DynamicBatcher batcher = new DynamicBatcher(target, config, 100, TimeUnit.MILLISECONDS.toNanos(2))) {
      List<Future<float[]>> got = new ArrayList<>();
      for (Batch b : batches) {
        got.add(pool.submit(() -> scored(batcher, b)));
      }
      for (int i = 0; i < calls; i++) {
        float[] g = got.get(i).get(30, TimeUnit.SECONDS);
        float[] w = want.get(i);
        for (int k = 0; k < w.length; k++) {
          assertThat(g[k]).as("call %d logit %d", i, k).isCloseTo(w[k], org.assertj.core.data.Offset.offset(1e-5f));
        }
      }
    } finally {
      pool.shutdownNow();
    }
    assertThat(target.calls.get()).as("scoring calls for %d requests", calls).isLessThan(calls);
    assertThat(target.largest.get()).isLessThanOrEqualTo(100);
    assertThat(target.closed).isTrue();
  }

  @Test
  void withoutDelayALoneCallGoesAtOnceAndCallsArrivingMeanwhileMakeUpTheNextBatch() throws Exception {
    Counting counting = new Counting();
    CountDownLatch entered = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    LogitScorer gated = new LogitScorer() {  // holds the first batch on the "GPU" until released
      @Override
      public void score(Batch batch, float[] logits) {
        entered.countDown();
        try {
          release.await();
        } catch (InterruptedException e) {
          throw new IllegalStateException(e);
        }
        counting.score(batch, logits);
      }

      @Override
      public String description() {
        return "gated";
      }

      @Override
      public void close() {
        counting.close();
      }
    };
    SplittableRandom rnd = new SplittableRandom(11);
    ExecutorService pool = Executors.newFixedThreadPool(6);
    try (DynamicBatcher batcher = new DynamicBatcher(gated, config, 100, 0);
        CpuScorer direct = new CpuScorer(new Hiformer(params, CpuKernels.best()), 1)) {
      Batch lone = randomBatch(4, rnd);
      Future<float[]> first = pool.submit(() -> scored(batcher, lone));
      assertThat(entered.await(30, TimeUnit.SECONDS)).as("the lone call reached the scorer alone").isTrue();

      List<Batch> later = new ArrayList<>();
      List<Future<float[]>> got = new ArrayList<>();
      for (int size = 3; size <= 7; size++) {
        Batch b = randomBatch(size, rnd);
        later.add(b);
        got.add(pool.submit(() -> scored(batcher, b)));
      }
      long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (batcher.waiting() < later.size() && System.nanoTime() < until) {
        Thread.sleep(1);
      }
      assertThat(batcher.waiting()).isEqualTo(later.size());
      release.countDown();

      assertLogits(first.get(30, TimeUnit.SECONDS), direct, lone);
      for (int i = 0; i < later.size(); i++) {
        assertLogits(got.get(i).get(30, TimeUnit.SECONDS), direct, later.get(i));
      }
      assertThat(counting.calls.get()).as("the lone batch, then one of the five that waited").isEqualTo(2);
      assertThat(counting.largest.get()).isEqualTo(3 + 4 + 5 + 6 + 7);
    } finally {
      pool.shutdownNow();
    }
  }

  private float[] scored(DynamicBatcher batcher, Batch b) {
    float[] out = new float[b.size() * config.numTasks()];
    batcher.score(b, out);
    return out;
  }

  private void assertLogits(float[] got, CpuScorer direct, Batch b) {
    float[] want = new float[b.size() * config.numTasks()];
    direct.score(b, want);
    for (int k = 0; k < want.length; k++) {
      assertThat(got[k]).as("logit %d", k).isCloseTo(want[k], org.assertj.core.data.Offset.offset(1e-5f));
    }
  }

  @Test
  void aFullCallIsScoredAtOnceAndABadCallFailsAlone() throws Exception {
    Counting target = new Counting();
    SplittableRandom rnd = new SplittableRandom(9);
    try (DynamicBatcher batcher = new DynamicBatcher(target, config, 64, TimeUnit.MILLISECONDS.toNanos(50))) {
      Batch big = randomBatch(64, rnd);
      batcher.score(big, new float[64 * config.numTasks()]);
      assertThat(target.calls.get()).isEqualTo(1);
      assertThat(target.largest.get()).isEqualTo(64);

      // a call whose ids are out of range shares a batch with good calls: only it fails
      Batch bad = randomBatch(3, rnd);
      int[] ids = new int[config.categoricalFields().size()];
      ids[0] = config.categoricalFields().getFirst().vocab() + 7;
      bad.add(ids, new int[0][], new float[config.numDense()], null, null);
      ExecutorService pool = Executors.newFixedThreadPool(4);
      try {
        List<Future<?>> good = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
          Batch b = randomBatch(5, rnd);
          good.add(pool.submit(() -> batcher.score(b, new float[5 * config.numTasks()])));
        }
        Future<?> failing = pool.submit(() -> batcher.score(bad, new float[bad.size() * config.numTasks()]));
        for (Future<?> f : good) {
          f.get(30, TimeUnit.SECONDS);
        }
        assertThatThrownBy(() -> failing.get(30, TimeUnit.SECONDS)).hasCauseInstanceOf(IllegalArgumentException.class)
            .hasMessageContaining("outside [0, ");
      } finally {
        pool.shutdownNow();
      }
    }
  }

  private Batch randomBatch(int n, SplittableRandom rnd) {
    Batch b = new Batch(config, n + 1);
    List<ModelConfig.Field> cats = config.categoricalFields();
    for (int i = 0; i < n; i++) {
      int[] ids = new int[cats.size()];
      for (int k = 0; k < ids.length; k++) {
        ids[k] = rnd.nextInt(cats.get(k).vocab());
      }
      float[] dense = new float[config.numDense()];
      for (int k = 0; k < dense.length; k++) {
        dense[k] = (float) rnd.nextGaussian();
      }
      b.add(ids, new int[0][], dense, null, null);
    }
    return b;
  }
}
