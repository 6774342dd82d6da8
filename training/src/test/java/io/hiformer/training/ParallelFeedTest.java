package io.hiformer.training;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hiformer.kernels.CpuKernels;
import io.hiformer.model.Batch;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.Parameters;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ParallelFeedTest {

  /** Every example of one pass of {@code feed}, as {@link ExampleCacheTest#rows} writes them; batch sizes too. */
  private static List<String> pass(BatchFeed feed, ModelConfig config, long seed, int stopAfter) {
    ExampleSet copy = new ExampleSet(config);
    List<String> sizes = new ArrayList<>();
    int taken = 0;
    for (Iterator<Batch> it = feed.pass(seed); it.hasNext() && taken++ < stopAfter; ) {
      Batch b = it.next();
      sizes.add("batch of " + b.size());
      copy.addAll(b);
    }
    List<String> out = new ArrayList<>(sizes);
    out.addAll(ExampleCacheTest.rows(copy, 1 << 20, false, 0));
    return out;
  }

  private static List<String> sequential(CachedExamples c, int batchSize, long seed) {
    ExampleSet copy = new ExampleSet(c.config());
    List<String> out = new ArrayList<>();
    for (Batch b : c.batches(batchSize, true, seed)) {
      out.add("batch of " + b.size());
      copy.addAll(b);
    }
    out.addAll(ExampleCacheTest.rows(copy, 1 << 20, false, 0));
    return out;
  }

  @ParameterizedTest
  @ValueSource(ints = {1, 2, 5})
  void handsOutTheSingleThreadedPassesBatchesInOrderWhateverTheThreadCount(int threads, @TempDir Path dir)
      throws IOException {
    ExampleSet set = TrainingRunTest.examples(40_000, 3);  // three blocks, the last partial
    try (CachedExamples c = ExampleCacheTest.fill(ExampleCacheTest.cache(dir, 5_000, new ByteArrayOutputStream()),
        set, new AtomicInteger()); BatchFeed feed = c.feed(777, threads)) {
      List<String> one = sequential(c, 777, 1);
      List<String> two = sequential(c, 777, 2);
      assertThat(one).isNotEqualTo(two).hasSize(40_000 + 52);
      assertThat(pass(feed, c.config(), 1, Integer.MAX_VALUE)).isEqualTo(one);
      assertThat(pass(feed, c.config(), 2, Integer.MAX_VALUE)).as("the feed reused for the next pass").isEqualTo(two);
      pass(feed, c.config(), 3, 4);  // abandoned after 4 batches, the workers still copying ahead
      assertThat(pass(feed, c.config(), 1, Integer.MAX_VALUE)).as("after an abandoned pass").isEqualTo(one);
    }
  }

  @Test
  void aPassThatIsOverRefusesBatchesInsteadOfHandingOutAnotherPasses(@TempDir Path dir) throws IOException {
    ExampleSet set = TrainingRunTest.examples(5_000, 4);
    try (CachedExamples c = ExampleCacheTest.fill(ExampleCacheTest.cache(dir, 1_000, new ByteArrayOutputStream()),
        set, new AtomicInteger()); BatchFeed feed = c.feed(100, 3)) {
      Iterator<Batch> old = feed.pass(1);
      old.next();
      feed.pass(2);
      assertThat(old.hasNext()).isFalse();
      assertThatThrownBy(old::next).isInstanceOf(IllegalStateException.class).hasMessageContaining("pass is over");
    }
  }

  @Test
  void aBlockDamagedDuringARunStopsThePassWithTheChecksumError(@TempDir Path dir) throws IOException {
    ExampleSet set = TrainingRunTest.examples(40_000, 6);
    try (CachedExamples c = ExampleCacheTest.fill(ExampleCacheTest.cache(dir, 1000, new ByteArrayOutputStream()),
        set, new AtomicInteger()); BatchFeed feed = c.feed(1000, 4)) {
      try (RandomAccessFile f = new RandomAccessFile(c.file().toFile(), "rw")) {
        ExampleCacheTest.flip(f, Files.size(c.file()) / 2);
      }
      assertThatThrownBy(() -> pass(feed, c.config(), 1, Integer.MAX_VALUE))
          .isInstanceOf(IllegalStateException.class).hasMessageContaining("checksum mismatch");
    }
  }

  /** Only {@code batches}: trains through the default, single-threaded feed, as every epoch did before the parallel one. */
  private record Sequential(ExampleSource source) implements ExampleSource {
    @Override
    public ModelConfig config() {
      return source.config();
    }

    @Override
    public long count() {
      return source.count();
    }

    @Override
    public Iterable<Batch> batches(int batchSize, boolean shuffle, long seed) {
      return source.batches(batchSize, shuffle, seed);
    }
  }

  @Test
  void trainingOnTheParallelFeedGivesTheSameLossCurveAndModel(@TempDir Path dir) throws Exception {
    ExampleSet train = TrainingRunTest.examples(6_000, 8);
    ExampleSet valid = TrainingRunTest.examples(1_000, 9);
    try (CachedExamples c = ExampleCacheTest.fill(ExampleCacheTest.cache(dir, 2_000, new ByteArrayOutputStream()),
        train, new AtomicInteger())) {
      List<Double> expected = null;
      Parameters expectedModel = null;
      for (int threads : new int[] {0, 1, 2, 5}) {  // 0: the single-threaded path
        try (Trainer t = TrainingRunTest.trainer(4, CpuKernels.scalar())) {
          TrainingRun.Result r = TrainingRun.run(t, threads == 0 ? new Sequential(c) : c, valid,
              new TrainingRun.Options(3, 10, null, 4, java.util.Map.of(), Math.max(1, threads)),
              TrainingRunTest.quiet());
          List<Double> losses = r.epochs().stream().map(TrainingRun.Epoch::trainLoss).toList();
          if (expected == null) {
            expected = losses;
            expectedModel = t.parameters().copy();
          } else {
            assertThat(losses).as("%d feed threads", threads).isEqualTo(expected);
            for (Parameters.Tensor tensor : expectedModel.tensors()) {
              assertThat(t.parameters().get(tensor.name())).as(tensor.name()).containsExactly(tensor.data());
            }
          }
        }
      }
      assertThat(expected).hasSize(3);
    }
  }
}
