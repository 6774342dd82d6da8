package io.hiformer.training;

import io.hiformer.kernels.CpuKernels;
import io.hiformer.model.Batch;
import io.hiformer.model.BundledConfigs;
import io.hiformer.model.Dropout;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.Parameters;
import java.io.IOException;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Whole training steps for ref-serving (forward, backward, gradient reduction, lazy Adam) in
 * examples/s, on 1 and 2 threads, scalar and SIMD kernels in the same run.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 3)
@Measurement(iterations = 3, time = 3)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx8g"})
public class TrainerBenchmark {

  @Param({"512"})
  int batch;

  @Param({"1", "2"})
  int threads;

  @Param({"scalar", "simd"})
  String kernels;

  private Trainer trainer;
  private Batch input;

  @State(Scope.Thread)
  @AuxCounters(AuxCounters.Type.OPERATIONS)
  public static class Examples {
    public long examples;

    @Setup(Level.Iteration)
    public void reset() {
      examples = 0;
    }
  }

  @Setup
  public void setUp() throws IOException {
    ModelConfig config;
    config = BundledConfigs.get(BundledConfigs.REF_SERVING);
    CpuKernels k = kernels.equals("scalar") ? CpuKernels.scalar() : CpuKernels.simd();
    trainer = new Trainer(Parameters.initialize(config, 1),
        new Trainer.Options(batch, 1e-3, 0, Dropout.uniform(0.1f), Adam.Settings.defaults(), threads, 1), k);
    input = randomBatch(config, batch, new SplittableRandom(3));
  }

  static Batch randomBatch(ModelConfig c, int n, SplittableRandom rnd) {
    Batch b = new Batch(c, n);
    var cats = c.categoricalFields();
    for (int i = 0; i < n; i++) {
      int[] ids = new int[cats.size()];
      for (int k = 0; k < ids.length; k++) {
        ids[k] = rnd.nextInt(cats.get(k).vocab());
      }
      float[] dense = new float[c.numDense()];
      for (int k = 0; k < dense.length; k++) {
        dense[k] = (float) rnd.nextGaussian();
      }
      float[] labels = new float[c.numTasks()];
      for (int j = 0; j < labels.length; j++) {
        labels[j] = rnd.nextInt(4) == 0 ? 1 : 0;
      }
      b.add(ids, new int[c.bagFields().size()][0], dense, labels, null);
    }
    return b;
  }

  @TearDown
  public void tearDown() {
    trainer.close();
  }

  @Benchmark
  public double step(Examples counter) {
    double loss = trainer.step(input);
    counter.examples += batch;
    return loss;
  }
}
