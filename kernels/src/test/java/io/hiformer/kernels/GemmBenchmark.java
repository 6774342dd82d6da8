package io.hiformer.kernels;

import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * Scalar vs SIMD matrix products on the model's shapes. The {@code gflop} counter reads directly
 * as GFLOP/s (2·m·n·k floating-point operations per call).
 *
 * <p>A shape is {@code OP:MxNxK:LDA}; an lda of 960 is a token slice of a {@code [B, 30, 32]} tensor.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
@State(Scope.Thread)
public class GemmBenchmark {

  @Param({"scalar", "simd"})
  public String impl;

  @Param({
      "NN:64x32x32:960", "NN:256x32x32:960", "NN:512x32x32:960",
      "NN:256x128x32:32", "NN:256x32x128:128",
      "NN:64x64x960:960", "NN:256x64x960:960", "NN:512x64x960:960",
      "NN:256x128x960:960", "NN:256x960x64:64", "NN:256x960x128:128",
      "NN:256x64x32:32", "NN:256x32x64:64", "NN:256x1x32:32",
      "NN:30x30x8:32", "NN:30x8x30:30", "NN:2x30x8:32", "NN:2x8x30:30",
      "TN:32x32x256:32", "TN:32x128x256:32", "TN:960x64x256:960", "TN:64x960x256:64",
      "NT:256x32x128:128", "NT:30x30x8:32"})
  public String shape;

  private CpuKernels kern;
  private GemmProblem.Op op;
  private int m;
  private int n;
  private int k;
  private int lda;
  private int ldb;
  private float[] a;
  private float[] b;
  private float[] c;
  private double gflopPerCall;

  /** Counts GFLOP done; JMH divides by time, so it reads as GFLOP/s. */
  @State(Scope.Thread)
  @AuxCounters(AuxCounters.Type.OPERATIONS)
  public static class Work {
    public double gflop;
  }

  @Setup(Level.Trial)
  public void setUp() {
    kern = impl.equals("simd") ? CpuKernels.simd() : CpuKernels.scalar();
    String[] parts = shape.split(":");
    op = GemmProblem.Op.valueOf(parts[0]);
    String[] dims = parts[1].split("x");
    m = Integer.parseInt(dims[0]);
    n = Integer.parseInt(dims[1]);
    k = Integer.parseInt(dims[2]);
    lda = Integer.parseInt(parts[2]);
    ldb = op == GemmProblem.Op.NT ? k : n;
    Random rnd = new Random(1);
    a = TestArrays.uniform(rnd, (op == GemmProblem.Op.TN ? k : m) * lda);
    b = TestArrays.uniform(rnd, k * n);
    c = new float[m * n];
    gflopPerCall = 2.0 * m * n * k / 1e9;
  }

  @Benchmark
  public float gemm(Work work) {
    switch (op) {
      case NN -> kern.gemm(m, n, k, a, 0, lda, b, 0, ldb, c, 0, n, false);
      case TN -> kern.gemmTN(m, n, k, a, 0, lda, b, 0, ldb, c, 0, n);
      case NT -> kern.gemmNT(m, n, k, a, 0, lda, b, 0, ldb, c, 0, n, false);
    }
    work.gflop += gflopPerCall;
    return c[0];
  }
}
