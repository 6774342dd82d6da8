package io.hiformer.kernels;

import java.util.Random;

/**
 * One matrix product with random operands laid out at random offsets and leading dimensions, and
 * no slack after the last element, so that an out-of-bounds vector access throws.
 */
record GemmProblem(Op op, int m, int n, int k,
    float[] a, int aOff, int lda, float[] b, int bOff, int ldb, float[] c, int cOff, int ldc) {

  enum Op { NN, TN, NT }

  static GemmProblem random(Random rnd, Op op, int m, int n, int k) {
    return random(rnd, op, m, n, k, (op == Op.TN ? m : k) + TestArrays.pick(rnd, 0, 0, 1, 5));
  }

  /** With a given lda, e.g. the 960 of a token slice of a {@code [B, L, d]} tensor. */
  static GemmProblem random(Random rnd, Op op, int m, int n, int k, int lda) {
    int ldb = (op == Op.NT ? k : n) + TestArrays.pick(rnd, 0, 0, 1, 3);
    int ldc = n + TestArrays.pick(rnd, 0, 0, 2, 7);
    int aOff = rnd.nextInt(4);
    int bOff = rnd.nextInt(4);
    int cOff = rnd.nextInt(4);
    float[] a = TestArrays.uniform(rnd, size(aOff, op == Op.TN ? k : m, op == Op.TN ? m : k, lda));
    float[] b = TestArrays.uniform(rnd, size(bOff, op == Op.NT ? n : k, op == Op.NT ? k : n, ldb));
    float[] c = TestArrays.uniform(rnd, size(cOff, m, n, ldc));
    return new GemmProblem(op, m, n, k, a, aOff, lda, b, bOff, ldb, c, cOff, ldc);
  }

  private static int size(int off, int rows, int cols, int ld) {
    return rows == 0 || cols == 0 ? off : off + (rows - 1) * ld + cols;
  }

  /** A copy of C after the product by {@code kern}; TN always accumulates. */
  float[] run(CpuKernels kern, boolean accumulate) {
    float[] out = c.clone();
    switch (op) {
      case NN -> kern.gemm(m, n, k, a, aOff, lda, b, bOff, ldb, out, cOff, ldc, accumulate);
      case TN -> kern.gemmTN(m, n, k, a, aOff, lda, b, bOff, ldb, out, cOff, ldc);
      case NT -> kern.gemmNT(m, n, k, a, aOff, lda, b, bOff, ldb, out, cOff, ldc, accumulate);
    }
    return out;
  }

  /** The same product in double, by the textbook triple loop. */
  double[] reference(boolean accumulate) {
    double[] out = new double[c.length];
    for (int i = 0; i < c.length; i++) {
      out[i] = c[i];
    }
    for (int i = 0; i < m; i++) {
      for (int j = 0; j < n; j++) {
        double s = 0;
        for (int p = 0; p < k; p++) {
          s += (double) aAt(i, p) * bAt(p, j);
        }
        int ci = cOff + i * ldc + j;
        out[ci] = accumulate || op == Op.TN ? out[ci] + s : s;
      }
    }
    return out;
  }

  private float aAt(int i, int p) {
    return op == Op.TN ? a[aOff + p * lda + i] : a[aOff + i * lda + p];
  }

  private float bAt(int p, int j) {
    return op == Op.NT ? b[bOff + j * ldb + p] : b[bOff + p * ldb + j];
  }

  @Override
  public String toString() {
    return op + " " + m + "x" + n + "x" + k + " lda=" + lda + " ldb=" + ldb + " ldc=" + ldc;
  }
}
