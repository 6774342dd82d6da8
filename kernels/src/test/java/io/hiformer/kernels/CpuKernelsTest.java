package io.hiformer.kernels;

import static io.hiformer.kernels.TestArrays.assertClose;
import static io.hiformer.kernels.TestArrays.pick;
import static io.hiformer.kernels.TestArrays.uniform;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.hiformer.kernels.GemmProblem.Op;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.BiConsumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/** The SIMD kernels against the scalar reference, and the matrix products against double. */
class CpuKernelsTest {
  private static final CpuKernels SCALAR = CpuKernels.scalar();
  private static final CpuKernels SIMD = CpuKernels.simd();

  /** Around the vector widths (8, 16) and the 4-vector panel widths (32, 64) of both species. */
  private static final int[] DIMS = {1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 30, 31, 32, 33, 63, 64, 65, 97, 129};
  /** Around the k-block of 64 too, and 0 for the empty sum. */
  private static final int[] DEPTHS = {0, 1, 3, 7, 8, 17, 33, 63, 64, 65, 128, 129, 200};
  private static final int[] WIDTHS = {1, 3, 7, 8, 15, 16, 17, 32, 33, 63, 65, 100, 257};

  private static double gemmTol(int k) {
    return 1e-5 * Math.sqrt(k + 1);
  }

  @ParameterizedTest
  @EnumSource(Op.class)
  void gemmMatchesScalarOnRaggedShapes(Op op) {
    Random rnd = new Random(op.ordinal() + 1);
    for (int t = 0; t < 300; t++) {
      GemmProblem p = GemmProblem.random(rnd, op, pick(rnd, DIMS), pick(rnd, DIMS), pick(rnd, DEPTHS));
      boolean acc = rnd.nextBoolean();
      assertClose(p + " acc=" + acc, p.run(SCALAR, acc), p.run(SIMD, acc), gemmTol(p.k()));
    }
  }

  static Stream<Arguments> modelShapes() {
    return Stream.of(
        Arguments.of(Op.NN, 67, 32, 32, 960), Arguments.of(Op.NN, 64, 128, 32, 32),
        Arguments.of(Op.NN, 64, 32, 128, 128), Arguments.of(Op.NN, 65, 64, 960, 960),
        Arguments.of(Op.NN, 33, 128, 960, 960), Arguments.of(Op.NN, 66, 960, 64, 64),
        Arguments.of(Op.NN, 32, 960, 128, 128), Arguments.of(Op.NN, 30, 30, 8, 32),
        Arguments.of(Op.NN, 30, 8, 30, 30), Arguments.of(Op.NN, 2, 30, 8, 32),
        Arguments.of(Op.NN, 2, 8, 30, 30), Arguments.of(Op.NN, 67, 64, 32, 32),
        Arguments.of(Op.NN, 67, 32, 64, 64), Arguments.of(Op.NN, 67, 1, 32, 32),
        Arguments.of(Op.TN, 32, 32, 67, 32), Arguments.of(Op.TN, 32, 128, 67, 32),
        Arguments.of(Op.TN, 960, 64, 33, 960), Arguments.of(Op.TN, 64, 960, 33, 64),
        Arguments.of(Op.TN, 30, 8, 2, 30), Arguments.of(Op.NT, 67, 32, 128, 128),
        Arguments.of(Op.NT, 30, 30, 8, 32), Arguments.of(Op.NT, 67, 960, 64, 64));
  }

  @ParameterizedTest
  @MethodSource("modelShapes")
  void gemmMatchesDoubleReferenceOnModelShapes(Op op, int m, int n, int k, int lda) {
    Random rnd = new Random(m * 31 + n * 7 + k);
    GemmProblem p = GemmProblem.random(rnd, op, m, n, k, lda);
    for (boolean acc : new boolean[] {false, true}) {
      double[] want = p.reference(acc);
      assertClose("scalar " + p, want, p.run(SCALAR, acc), gemmTol(k));
      assertClose("simd " + p, want, p.run(SIMD, acc), gemmTol(k));
    }
  }

  @Test
  void gemmNtIsSafeAcrossThreadsSharingNothingButTheCode() throws Exception {
    try (ExecutorService pool = Executors.newFixedThreadPool(4)) {
      List<Future<?>> done = new ArrayList<>();
      for (int t = 0; t < 4; t++) {
        int seed = t;
        done.add(pool.submit(() -> {
          Random rnd = new Random(100 + seed);
          for (int i = 0; i < 60; i++) {
            // Different sizes per thread so that a shared scratch buffer would be overwritten.
            GemmProblem p = GemmProblem.random(rnd, Op.NT, pick(rnd, DIMS), pick(rnd, DIMS), pick(rnd, DEPTHS));
            assertClose(p.toString(), p.run(SCALAR, false), p.run(SIMD, false), gemmTol(p.k()));
          }
        }));
      }
      for (Future<?> f : done) {
        f.get();
      }
    }
  }

  /** Runs {@code op} on a copy of {@code init} with each implementation and compares the copies. */
  private static void sameAsScalar(String what, float[] init, double tol, BiConsumer<CpuKernels, float[]> op) {
    float[] want = init.clone();
    op.accept(SCALAR, want);
    float[] got = init.clone();
    op.accept(SIMD, got);
    assertClose(what, want, got, tol);
  }

  @Test
  void rowAndVectorKernelsMatchScalar() {
    Random rnd = new Random(7);
    for (int t = 0; t < 60; t++) {
      int n = pick(rnd, WIDTHS);
      int rows = 1 + rnd.nextInt(5);
      int ld = n + rnd.nextInt(3);
      int off = rnd.nextInt(3);
      float[] x = uniform(rnd, off + rows * ld);
      float[] y = uniform(rnd, off + rows * ld);
      float alpha = rnd.nextFloat() * 4 - 2;
      int last = x.length - n; // x's last n elements: a different offset from y's, and no slack
      String at = " n=" + n + " rows=" + rows;
      sameAsScalar("addRowVector" + at, y, 1e-6, (kern, c) -> kern.addRowVector(rows, n, x, off, c, off, ld));
      sameAsScalar("sumRows" + at, y, 1e-5, (kern, out) -> kern.sumRows(rows, n, x, off, ld, out, off));
      sameAsScalar("axpy" + at, y, 1e-6, (kern, v) -> kern.axpy(n, alpha, x, last, v, off));
      sameAsScalar("scale" + at, y, 1e-6, (kern, v) -> kern.scale(n, alpha, v, off));
      sameAsScalar("transpose" + at, y, 0, (kern, out) -> kern.transpose(rows, n, x, off, ld, out, 0, rows));
      float want = SCALAR.dot(n, x, last, y, off);
      assertThat(SIMD.dot(n, x, last, y, off)).as("dot" + at)
          .isCloseTo(want, within((float) (1e-5 * Math.sqrt(n))));
    }
  }

  @Test
  void elementwiseKernelsMatchScalarInPlaceAndApart() {
    Random rnd = new Random(8);
    for (int t = 0; t < 60; t++) {
      int n = pick(rnd, WIDTHS);
      int off = rnd.nextInt(3);
      float[] x = uniform(rnd, off + n);
      for (int i = 0; i < x.length; i++) {
        x[i] *= 4; // reach GELU's saturated tails
      }
      x[off] = 0f; // the ReLU kink: y = 0 must stop the gradient
      float[] dy = uniform(rnd, off + n);
      String at = " n=" + n;
      sameAsScalar("gelu" + at, dy, 1e-5, (kern, out) -> kern.gelu(n, x, off, out, off));
      sameAsScalar("gelu in place" + at, x, 1e-5, (kern, v) -> kern.gelu(n, v, off, v, off));
      sameAsScalar("geluBackward" + at, x, 1e-5, (kern, out) -> kern.geluBackward(n, x, off, dy, off, out, off));
      sameAsScalar("geluBackward in place" + at, dy, 1e-5,
          (kern, d) -> kern.geluBackward(n, x, off, d, off, d, off));
      sameAsScalar("relu" + at, x, 0, (kern, v) -> kern.relu(n, v, off));
      sameAsScalar("reluBackward" + at, dy, 0, (kern, d) -> kern.reluBackward(n, x, off, d, off));
    }
  }

  @Test
  void softmaxMatchesScalar() {
    Random rnd = new Random(9);
    for (int t = 0; t < 60; t++) {
      int n = pick(rnd, WIDTHS);
      int rows = 1 + rnd.nextInt(4);
      int ld = n + rnd.nextInt(3);
      int off = rnd.nextInt(3);
      float scale = pick(rnd, 1, 3, 10) * rnd.nextFloat();
      float[] x = uniform(rnd, off + rows * ld);
      String at = " n=" + n + " rows=" + rows;
      sameAsScalar("softmaxRows" + at, x, 1e-5, (kern, v) -> kern.softmaxRows(rows, n, scale, v, off, ld));
      float[] p = x.clone();
      SCALAR.softmaxRows(rows, n, scale, p, off, ld);
      sameAsScalar("softmaxBackwardRows" + at, uniform(rnd, x.length), 1e-5,
          (kern, d) -> kern.softmaxBackwardRows(rows, n, p, off, ld, d, off, ld));
    }
  }

  @Test
  void layerNormForwardAndBackwardMatchScalar() {
    Random rnd = new Random(10);
    for (int t = 0; t < 40; t++) {
      int n = pick(rnd, WIDTHS);
      int rows = 1 + rnd.nextInt(4);
      int ld = n + rnd.nextInt(3);
      int off = rnd.nextInt(3);
      float[] x = uniform(rnd, off + rows * ld);
      float[] gamma = uniform(rnd, off + n);
      float[] beta = uniform(rnd, off + n);
      String at = " n=" + n + " rows=" + rows;
      float[][] want = layerNorm(SCALAR, rows, n, x, off, ld, gamma, beta);
      float[][] got = layerNorm(SIMD, rows, n, x, off, ld, gamma, beta);
      assertClose("layerNorm y" + at, want[0], got[0], 1e-5);
      assertClose("layerNorm mean" + at, want[1], got[1], 1e-6);
      assertClose("layerNorm rstd" + at, want[2], got[2], 1e-5);

      float[] dy = uniform(rnd, x.length);
      float[][] init = {uniform(rnd, x.length), uniform(rnd, off + n), uniform(rnd, off + n)};
      float[][] gradWant = layerNormBackward(SCALAR, rows, n, dy, x, off, ld, gamma, want, init);
      float[][] gradGot = layerNormBackward(SIMD, rows, n, dy, x, off, ld, gamma, want, init);
      assertClose("layerNormBackward dx" + at, gradWant[0], gradGot[0], 1e-5);
      assertClose("layerNormBackward dgamma" + at, gradWant[1], gradGot[1], 1e-5);
      assertClose("layerNormBackward dbeta" + at, gradWant[2], gradGot[2], 1e-5);
    }
  }

  /** {dx, dgamma, dbeta}, accumulated onto copies of {@code init}. */
  private static float[][] layerNormBackward(CpuKernels kern, int rows, int n, float[] dy, float[] x,
      int off, int ld, float[] gamma, float[][] forward, float[][] init) {
    float[][] g = {init[0].clone(), init[1].clone(), init[2].clone()};
    kern.layerNormBackward(rows, n, dy, off, ld, x, off, ld, gamma, off, forward[1], forward[2], 1,
        g[0], off, ld, g[1], g[2], off);
    return g;
  }

  /** {y, mean, rstd}, the statistics written from index 1. */
  private static float[][] layerNorm(CpuKernels kern, int rows, int n, float[] x, int off, int ld,
      float[] gamma, float[] beta) {
    float[] y = new float[x.length];
    float[] mean = new float[rows + 2];
    float[] rstd = new float[rows + 2];
    kern.layerNorm(rows, n, x, off, ld, gamma, off, beta, off, y, off, ld, mean, rstd, 1);
    return new float[][] {y, mean, rstd};
  }

  @Test
  void gatherAndScatterMatchScalarWithRepeatedIds() {
    Random rnd = new Random(11);
    for (int t = 0; t < 30; t++) {
      int d = pick(rnd, WIDTHS);
      int vocab = 1 + rnd.nextInt(6);
      int count = 1 + rnd.nextInt(12);
      int[] ids = new int[1 + 2 * count];
      for (int i = 0; i < ids.length; i++) {
        ids[i] = rnd.nextInt(vocab);
      }
      float[] table = uniform(rnd, vocab * d);
      float[] rows = uniform(rnd, 2 + count * (d + 1));
      float scale = rnd.nextFloat() - 0.5f;
      String at = " d=" + d + " count=" + count;
      sameAsScalar("gatherRows" + at, rows, 0,
          (kern, out) -> kern.gatherRows(count, ids, 1, 2, table, d, out, 2, d + 1));
      sameAsScalar("scatterAddRows" + at, table, 1e-6,
          (kern, tab) -> kern.scatterAddRows(count, ids, 1, 2, rows, 2, d + 1, scale, tab, d));
    }
  }
}
