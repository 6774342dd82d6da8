package io.hiformer.model;

import io.hiformer.kernels.CpuKernels;
import java.io.IOException;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
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
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.annotations.AuxCounters;

/**
 * Forward plus backward of the ref-serving config on one thread, in examples/s (the
 * {@code examples} counter), scalar and SIMD kernels in the same run. Gradients accumulate across
 * steps: clearing them and the optimiser update belong to the trainer and are not measured here.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx6g"})
public class TrainingStepBenchmark {

  @Param({"256"})
  int batch;

  @Param({"scalar", "simd"})
  String kernels;

  private Hiformer model;
  private Batch input;
  private Activations act;
  private Parameters grads;

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
    ModelConfig config = ForwardBenchmark.refServing();
    CpuKernels k = kernels.equals("scalar") ? CpuKernels.scalar() : CpuKernels.simd();
    model = new Hiformer(Parameters.initialize(config, 42), k);
    input = TestModels.randomBatch(config, batch, new SplittableRandom(7));
    act = new Activations(config, batch, true);
    grads = Parameters.zeros(config);
  }

  @Benchmark
  public double step(Examples counter) {
    model.forward(input, 0, batch, act);
    double loss = model.loss(input, 0, batch, act, batch);
    model.backward(input, 0, batch, act, grads, batch);
    counter.examples += batch;
    return loss;
  }
}
