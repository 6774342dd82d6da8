package io.hiformer.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hiformer.kernels.CpuKernels;
import java.lang.management.ManagementFactory;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.junit.jupiter.api.Test;

class CpuScorerTest {

  @Test
  void tiledParallelScoresEqualOneWholeBatchPass() {
    SplittableRandom rnd = new SplittableRandom(3);
    ModelConfig config = TestModels.randomConfig(rnd, 2, 2, true, true, true);
    Hiformer model = new Hiformer(TestModels.randomParameters(config, rnd), CpuKernels.best());
    Batch batch = TestModels.randomBatch(config, 37, rnd);
    Activations whole = new Activations(config, 37, false);
    model.forward(batch, 0, 37, whole);
    float[] expected = Arrays.copyOf(whole.logits(), 37 * config.numTasks());

    for (int cores : new int[] {1, 2, 3}) {
      try (CpuScorer scorer = new CpuScorer(model, cores, 5)) {
        float[] logits = new float[37 * config.numTasks()];
        scorer.score(batch, logits);
        assertThat(logits).as("%d cores", cores).containsExactly(expected, org.assertj.core.data.Offset.offset(1e-5f));
      }
    }
  }

  @Test
  void aFailingTileFailsTheCallAndThePoolKeepsWorking() {
    SplittableRandom rnd = new SplittableRandom(4);
    ModelConfig config = TestModels.randomConfig(rnd, 1, 1, true, false, true);
    Hiformer model = new Hiformer(TestModels.randomParameters(config, rnd), CpuKernels.best());
    Batch bad = TestModels.randomBatch(config, 20, rnd);
    bad.categorical[17 * config.categoricalFields().size()] = 1_000_000;
    try (CpuScorer scorer = new CpuScorer(model, 2, 4)) {
      float[] logits = new float[20 * config.numTasks()];
      assertThatThrownBy(() -> scorer.score(bad, logits))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("example 17").hasMessageContaining("1000000");
      Batch good = TestModels.randomBatch(config, 20, rnd);
      scorer.score(good, logits);
      assertThat(logits[logits.length - 1]).isNotNaN();
    }
  }

  @Test
  void concurrentCallsShareTheWorkersAndEachGetsItsOwnLogits() throws Exception {
    SplittableRandom rnd = new SplittableRandom(6);
    ModelConfig config = TestModels.randomConfig(rnd, 2, 2, true, true, true);
    Hiformer model = new Hiformer(TestModels.randomParameters(config, rnd), CpuKernels.best());
    int callers = 4;
    Batch[] batches = new Batch[callers];
    float[][] expected = new float[callers][];
    for (int c = 0; c < callers; c++) {
      batches[c] = TestModels.randomBatch(config, 11 + 7 * c, rnd);
      Activations whole = new Activations(config, batches[c].size(), false);
      model.forward(batches[c], 0, batches[c].size(), whole);
      expected[c] = Arrays.copyOf(whole.logits(), batches[c].size() * config.numTasks());
    }
    try (CpuScorer scorer = new CpuScorer(model, 2, 4)) {
      var failures = new ConcurrentLinkedQueue<Throwable>();
      Thread[] threads = new Thread[callers];
      for (int c = 0; c < callers; c++) {
        int caller = c;
        threads[c] = Thread.ofPlatform().start(() -> {
          float[] logits = new float[batches[caller].size() * config.numTasks()];
          try {
            for (int round = 0; round < 200; round++) {
              Arrays.fill(logits, Float.NaN);
              scorer.score(batches[caller], logits);
              assertThat(logits).containsExactly(expected[caller], org.assertj.core.data.Offset.offset(1e-5f));
            }
          } catch (Throwable t) {
            failures.add(t);
          }
        });
      }
      for (Thread t : threads) {
        t.join();
      }
      assertThat(failures).isEmpty();
    }
  }

  /**
   * With N cores and many callers, at most N threads are inside the kernels at any moment, callers
   * included, and N are at times (the cores are used); every call gets its own scores, the same bit
   * for bit whatever N. Scalar kernels: the SIMD ones may sum in another order once compiled
   * ({@code reduceLanes}), so their results are bit-identical only between passes of one compiled state.
   */
  @Test
  void atMostTheConfiguredCoresScoreAtOnceWhateverTheCallers() throws Exception {
    SplittableRandom rnd = new SplittableRandom(8);
    ModelConfig config = TestModels.randomConfig(rnd, 2, 2, true, true, true);
    Parameters params = TestModels.randomParameters(config, rnd);
    int callers = 8;
    Batch[] batches = new Batch[callers];
    for (int c = 0; c < callers; c++) {
      batches[c] = TestModels.randomBatch(config, 1 + 5 * c, rnd);  // 1 to 9 tiles of 4
    }
    float[][] firstScores = null;
    for (int run = 0; run < 6; run++) {
      int cores = 1 + run % 3;
      boolean callerScores = run < 3;  // and the other design: callers hand their tiles over and wait
      ThreadsInKernels inKernels = new ThreadsInKernels();
      Hiformer model = new Hiformer(params, inKernels.around(CpuKernels.scalar()));
      float[][] scores = new float[callers][];
      try (CpuScorer scorer = new CpuScorer(model, cores, 4, callerScores)) {
        var failures = new ConcurrentLinkedQueue<Throwable>();
        Thread[] threads = new Thread[callers];
        for (int c = 0; c < callers; c++) {
          int caller = c;
          scores[c] = new float[batches[c].size() * config.numTasks()];
          threads[c] = Thread.ofPlatform().start(() -> {
            float[] logits = new float[scores[caller].length];
            try {
              for (int round = 0; round < 60; round++) {
                scorer.score(batches[caller], logits);
                if (round == 0) {
                  System.arraycopy(logits, 0, scores[caller], 0, logits.length);
                }
                assertThat(logits).containsExactly(scores[caller]);
              }
            } catch (Throwable t) {
              failures.add(t);
            }
          });
        }
        for (Thread t : threads) {
          t.join();
        }
        assertThat(failures).isEmpty();
      }
      assertThat(inKernels.most.get()).as("most threads in the kernels at once, %d cores, callers score: %s", cores, callerScores).isEqualTo(cores);
      if (firstScores == null) {
        firstScores = scores;
      }
      for (int c = 0; c < callers; c++) {
        assertThat(scores[c]).as("caller %d, %d cores", c, cores).containsExactly(firstScores[c]);
      }
    }
  }

  /** Counts the threads inside any kernel call, and the most at once. */
  private static final class ThreadsInKernels {
    final java.util.concurrent.atomic.AtomicInteger inside = new java.util.concurrent.atomic.AtomicInteger();
    final java.util.concurrent.atomic.AtomicInteger most = new java.util.concurrent.atomic.AtomicInteger();

    CpuKernels around(CpuKernels kernels) {
      return (CpuKernels) java.lang.reflect.Proxy.newProxyInstance(CpuKernels.class.getClassLoader(),
          new Class<?>[] {CpuKernels.class}, (proxy, method, args) -> {
            most.accumulateAndGet(inside.incrementAndGet(), Math::max);
            try {
              Thread.yield();  // widens the window in which another thread could enter too
              return method.invoke(kernels, args);
            } catch (java.lang.reflect.InvocationTargetException e) {
              throw e.getCause();
            } finally {
              inside.decrementAndGet();
            }
          });
    }
  }

  /** A call queued behind a caller that holds the only core is scored even when the scorer closes meanwhile. */
  @Test
  void closingFinishesACallQueuedBehindACallerThatHoldsEveryCore() throws Exception {
    SplittableRandom rnd = new SplittableRandom(9);
    ModelConfig config = TestModels.randomConfig(rnd, 1, 1, true, false, true);
    var release = new java.util.concurrent.CountDownLatch(1);
    var inside = new java.util.concurrent.CountDownLatch(1);
    Thread[] holder = new Thread[1];
    CpuKernels best = CpuKernels.best();
    CpuKernels blocking = (CpuKernels) java.lang.reflect.Proxy.newProxyInstance(CpuKernels.class.getClassLoader(),
        new Class<?>[] {CpuKernels.class}, (proxy, method, args) -> {
          if (Thread.currentThread() == holder[0] && release.getCount() > 0) {
            inside.countDown();
            release.await();
          }
          try {
            return method.invoke(best, args);
          } catch (java.lang.reflect.InvocationTargetException e) {
            throw e.getCause();
          }
        });
    CpuScorer scorer = new CpuScorer(new Hiformer(TestModels.randomParameters(config, rnd), blocking), 1, 4);
    Batch first = TestModels.randomBatch(config, 8, rnd);
    Batch second = TestModels.randomBatch(config, 3, rnd);
    float[] firstLogits = new float[8 * config.numTasks()];
    float[] secondLogits = new float[3 * config.numTasks()];
    Arrays.fill(secondLogits, Float.NaN);
    holder[0] = Thread.ofPlatform().unstarted(() -> scorer.score(first, firstLogits));
    holder[0].start();
    assertThat(inside.await(30, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
    Thread queued = Thread.ofPlatform().start(() -> scorer.score(second, secondLogits));
    while (queued.getState() != Thread.State.WAITING) {
      Thread.sleep(1);
    }
    scorer.close();
    Thread.sleep(300);  // the workers see the close while the call waits for the core
    release.countDown();
    holder[0].join(30_000);
    queued.join(30_000);
    assertThat(queued.isAlive()).as("the queued call still waits").isFalse();
    assertThat(secondLogits).doesNotContain(Float.NaN);
  }

  @Test
  void aClosedScorerRefusesCalls() {
    SplittableRandom rnd = new SplittableRandom(7);
    ModelConfig config = TestModels.randomConfig(rnd, 1, 1, true, false, true);
    Hiformer model = new Hiformer(TestModels.randomParameters(config, rnd), CpuKernels.best());
    CpuScorer scorer = new CpuScorer(model, 2, 4);
    scorer.close();
    Batch batch = TestModels.randomBatch(config, 5, rnd);
    assertThatThrownBy(() -> scorer.score(batch, new float[5 * config.numTasks()]))
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
  }

  /**
   * The serving hot path allocates nothing once warm: measured on the calling thread and the workers. Until C2 has
   * compiled the kernels, vectors are real objects, so on a loaded machine warming up can take
   * longer: the test looks for an allocation-free window within a bounded number of calls.
   */
  @Test
  void scoringAllocatesNothingAfterWarmUp() throws Exception {
    ModelConfig config = ForwardBenchmark.refServing();
    Hiformer model = new Hiformer(Parameters.initialize(config, 1), CpuKernels.best());
    Batch batch = TestModels.randomBatch(config, 64, new SplittableRandom(5));
    float[] logits = new float[64 * config.numTasks()];
    var mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    try (CpuScorer scorer = new CpuScorer(model, 2, 32)) {
      for (int i = 0; i < 200; i++) {
        scorer.score(batch, logits);
      }
      long[] ids = Thread.getAllStackTraces().keySet().stream()
          .filter(t -> t.getName().startsWith("hiformer-scorer-") || t == Thread.currentThread())
          .mapToLong(Thread::threadId).toArray();
      assertThat(ids).hasSize(3);
      long allocated = -1;
      for (int window = 0; window < 40 && allocated != 0; window++) {
        long before = allocatedBy(mx, ids);
        for (int i = 0; i < 50; i++) {
          scorer.score(batch, logits);
        }
        allocated = allocatedBy(mx, ids) - before;
      }
      assertThat(allocated).as("bytes allocated by 50 warm score calls").isZero();
    }
  }

  /** Bytes allocated so far by the threads {@code ids}; allocates nothing itself. */
  private static long allocatedBy(com.sun.management.ThreadMXBean mx, long[] ids) {
    long sum = 0;
    for (long id : ids) {
      sum += mx.getThreadAllocatedBytes(id);
    }
    return sum;
  }
}
