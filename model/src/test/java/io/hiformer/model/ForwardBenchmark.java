package io.hiformer.model;

import io.hiformer.kernels.CpuKernels;
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
 * Forward throughput of the ref-serving config in candidates/s (the {@code candidates} counter),
 * scalar and SIMD kernels in the same run, on 1 and 2 cores ({@code -p cores=1,2,4,8,16} for more;
 * pin the JVM with {@code taskset} to as many CPUs). See the model module's README for the command.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx4g"})
public class ForwardBenchmark {

  @Param({"1", "64", "512"})
  int batch;

  @Param({"scalar", "simd"})
  String kernels;

  /** Scoring cores: at most this many threads score at once, the benchmark's calling thread included. */
  @Param({"1", "2"})
  int cores;

  @Param({"32"})
  int tile;

  /** false: the benchmark's thread hands every tile to the scorer's workers and waits (the other design). */
  @Param({"true"})
  boolean callerScores;

  private CpuScorer scorer;
  private Batch input;
  private float[] logits;

  /** Counts candidates so JMH reports candidates/s next to batches/s. */
  @State(Scope.Thread)
  @AuxCounters(AuxCounters.Type.OPERATIONS)
  public static class Candidates {
    public long candidates;

    @Setup(Level.Iteration)
    public void reset() {
      candidates = 0;
    }
  }

  @Setup
  public void setUp() throws IOException {
    ModelConfig config = refServing();
    CpuKernels k = kernels.equals("scalar") ? CpuKernels.scalar() : CpuKernels.simd();
    Hiformer model = new Hiformer(Parameters.initialize(config, 42), k);
    scorer = new CpuScorer(model, cores, tile, callerScores);
    input = TestModels.randomBatch(config, batch, new SplittableRandom(7));
    logits = new float[batch * config.numTasks()];
  }

  @TearDown
  public void tearDown() {
    scorer.close();
  }

  @Benchmark
  public float[] forward(Candidates counter) {
    scorer.score(input, logits);
    counter.candidates += batch;
    return logits;
  }

  static ModelConfig refServing() throws IOException {
    return BundledConfigs.get(BundledConfigs.REF_SERVING);
  }
}
