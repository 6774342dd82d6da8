package io.hiformer.kernels;

import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * Register-blocked matrix products on the Vector API. One family of microkernels computes
 * {@code C += A·B} where {@code A(i,p) = a[aOff + i·rs + p·cs]}: {@code cs = 1} is a plain product,
 * {@code rs = 1} a transposed A, so NN and TN share the code. A microkernel keeps a block of C in
 * local variables (C2 keeps those in registers; arrays it would not), broadcasts one A element per
 * row and fuses it with whole rows of B.
 */
final class SimdGemm {
  static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int L = S.length();

  /** Depth of a k-block: a 4-vector-wide panel of B this deep (16 KiB at 512 bits) stays in L1. */
  private static final int KC = 64;

  private static final ThreadLocal<TransposeBuffer> TRANSPOSED_B = ThreadLocal.withInitial(TransposeBuffer::new);

  private SimdGemm() {}

  /** {@code C[m,n] = (acc ? C : 0) + A·B} with A's general strides. */
  static void gemm(int m, int n, int k, float[] a, int aOff, int rs, int cs,
      float[] b, int bOff, int ldb, float[] c, int cOff, int ldc, boolean acc) {
    if (k == 0) {
      if (!acc) {
        for (int i = 0; i < m; i++) {
          Arrays.fill(c, cOff + i * ldc, cOff + i * ldc + n, 0f);
        }
      }
      return;
    }
    // k outermost so a panel of B is reused from L1 by every row block of A.
    for (int p0 = 0; p0 < k; p0 += KC) {
      int kc = Math.min(KC, k - p0);
      boolean ac = acc || p0 > 0;
      int ap = aOff + p0 * cs;
      int bp = bOff + p0 * ldb;
      int j = 0;
      for (; j + 4 * L <= n; j += 4 * L) {
        int i = 0;
        for (; i + 4 <= m; i += 4) {
          k4x4(kc, a, ap + i * rs, rs, cs, b, bp + j, ldb, c, cOff + i * ldc + j, ldc, ac);
        }
        for (; i < m; i++) {
          k1x4(kc, a, ap + i * rs, cs, b, bp + j, ldb, c, cOff + i * ldc + j, ac);
        }
      }
      for (; j + L < n; j += 2 * L) {
        int tail = Math.min(L, n - j - L);
        int i = 0;
        for (; i + 4 <= m; i += 4) {
          k4x2(kc, a, ap + i * rs, rs, cs, b, bp + j, ldb, c, cOff + i * ldc + j, ldc, ac, tail);
        }
        for (; i < m; i++) {
          k1x2(kc, a, ap + i * rs, cs, b, bp + j, ldb, c, cOff + i * ldc + j, ac, tail);
        }
      }
      if (j < n) {
        int tail = n - j;
        int i = 0;
        for (; i + 4 <= m; i += 4) {
          k4x1(kc, a, ap + i * rs, rs, cs, b, bp + j, ldb, c, cOff + i * ldc + j, ldc, ac, tail);
        }
        for (; i < m; i++) {
          k1x1(kc, a, ap + i * rs, cs, b, bp + j, ldb, c, cOff + i * ldc + j, ac, tail);
        }
      }
    }
  }

  /** {@code C = (acc ? C : 0) + A·Bᵀ} with B {@code [n,k]}: transposes B once into a per-thread buffer, then NN. */
  static void gemmNT(int m, int n, int k, float[] a, int aOff, int lda,
      float[] b, int bOff, int ldb, float[] c, int cOff, int ldc, boolean acc) {
    float[] bt = TRANSPOSED_B.get().floats(k * n);
    transpose(n, k, b, bOff, ldb, bt, 0, n);
    gemm(m, n, k, a, aOff, lda, 1, bt, 0, n, c, cOff, ldc, acc);
  }

  /** Scalar, but in 4×4 tiles so each pass reads four rows and writes four rows sequentially. */
  static void transpose(int rows, int cols, float[] a, int aOff, int lda, float[] b, int bOff, int ldb) {
    int i = 0;
    for (; i + 4 <= rows; i += 4) {
      int a0 = aOff + i * lda;
      for (int j = 0; j < cols; j++) {
        int bj = bOff + j * ldb + i;
        b[bj] = a[a0 + j];
        b[bj + 1] = a[a0 + lda + j];
        b[bj + 2] = a[a0 + 2 * lda + j];
        b[bj + 3] = a[a0 + 3 * lda + j];
      }
    }
    for (; i < rows; i++) {
      for (int j = 0; j < cols; j++) {
        b[bOff + j * ldb + i] = a[aOff + i * lda + j];
      }
    }
  }

  /** C[4, 4L] += A[4, k]·B[k, 4L]: 16 accumulators, the widest block that leaves registers for B. */
  private static void k4x4(int k, float[] a, int ai, int rs, int cs, float[] b, int bi, int ldb,
      float[] c, int ci, int ldc, boolean acc) {
    int r0 = ci;
    int r1 = r0 + ldc;
    int r2 = r1 + ldc;
    int r3 = r2 + ldc;
    FloatVector z = FloatVector.zero(S);
    FloatVector c00 = acc ? FloatVector.fromArray(S, c, r0) : z;
    FloatVector c01 = acc ? FloatVector.fromArray(S, c, r0 + L) : z;
    FloatVector c02 = acc ? FloatVector.fromArray(S, c, r0 + 2 * L) : z;
    FloatVector c03 = acc ? FloatVector.fromArray(S, c, r0 + 3 * L) : z;
    FloatVector c10 = acc ? FloatVector.fromArray(S, c, r1) : z;
    FloatVector c11 = acc ? FloatVector.fromArray(S, c, r1 + L) : z;
    FloatVector c12 = acc ? FloatVector.fromArray(S, c, r1 + 2 * L) : z;
    FloatVector c13 = acc ? FloatVector.fromArray(S, c, r1 + 3 * L) : z;
    FloatVector c20 = acc ? FloatVector.fromArray(S, c, r2) : z;
    FloatVector c21 = acc ? FloatVector.fromArray(S, c, r2 + L) : z;
    FloatVector c22 = acc ? FloatVector.fromArray(S, c, r2 + 2 * L) : z;
    FloatVector c23 = acc ? FloatVector.fromArray(S, c, r2 + 3 * L) : z;
    FloatVector c30 = acc ? FloatVector.fromArray(S, c, r3) : z;
    FloatVector c31 = acc ? FloatVector.fromArray(S, c, r3 + L) : z;
    FloatVector c32 = acc ? FloatVector.fromArray(S, c, r3 + 2 * L) : z;
    FloatVector c33 = acc ? FloatVector.fromArray(S, c, r3 + 3 * L) : z;
    for (int p = 0, bp = bi, ap = ai; p < k; p++, bp += ldb, ap += cs) {
      FloatVector b0 = FloatVector.fromArray(S, b, bp);
      FloatVector b1 = FloatVector.fromArray(S, b, bp + L);
      FloatVector b2 = FloatVector.fromArray(S, b, bp + 2 * L);
      FloatVector b3 = FloatVector.fromArray(S, b, bp + 3 * L);
      FloatVector x = FloatVector.broadcast(S, a[ap]);
      c00 = b0.fma(x, c00);
      c01 = b1.fma(x, c01);
      c02 = b2.fma(x, c02);
      c03 = b3.fma(x, c03);
      x = FloatVector.broadcast(S, a[ap + rs]);
      c10 = b0.fma(x, c10);
      c11 = b1.fma(x, c11);
      c12 = b2.fma(x, c12);
      c13 = b3.fma(x, c13);
      x = FloatVector.broadcast(S, a[ap + 2 * rs]);
      c20 = b0.fma(x, c20);
      c21 = b1.fma(x, c21);
      c22 = b2.fma(x, c22);
      c23 = b3.fma(x, c23);
      x = FloatVector.broadcast(S, a[ap + 3 * rs]);
      c30 = b0.fma(x, c30);
      c31 = b1.fma(x, c31);
      c32 = b2.fma(x, c32);
      c33 = b3.fma(x, c33);
    }
    c00.intoArray(c, r0);
    c01.intoArray(c, r0 + L);
    c02.intoArray(c, r0 + 2 * L);
    c03.intoArray(c, r0 + 3 * L);
    c10.intoArray(c, r1);
    c11.intoArray(c, r1 + L);
    c12.intoArray(c, r1 + 2 * L);
    c13.intoArray(c, r1 + 3 * L);
    c20.intoArray(c, r2);
    c21.intoArray(c, r2 + L);
    c22.intoArray(c, r2 + 2 * L);
    c23.intoArray(c, r2 + 3 * L);
    c30.intoArray(c, r3);
    c31.intoArray(c, r3 + L);
    c32.intoArray(c, r3 + 2 * L);
    c33.intoArray(c, r3 + 3 * L);
  }

  /**
   * C[4, L + tail] += A·B; the second vector is masked to cover a ragged edge. The mask is made
   * here, not passed in: a mask that crosses a call is boxed on the heap.
   */
  private static void k4x2(int k, float[] a, int ai, int rs, int cs, float[] b, int bi, int ldb,
      float[] c, int ci, int ldc, boolean acc, int tail) {
    VectorMask<Float> mk = S.indexInRange(0, tail);
    int r0 = ci;
    int r1 = r0 + ldc;
    int r2 = r1 + ldc;
    int r3 = r2 + ldc;
    FloatVector z = FloatVector.zero(S);
    FloatVector c00 = acc ? FloatVector.fromArray(S, c, r0) : z;
    FloatVector c01 = acc ? FloatVector.fromArray(S, c, r0 + L, mk) : z;
    FloatVector c10 = acc ? FloatVector.fromArray(S, c, r1) : z;
    FloatVector c11 = acc ? FloatVector.fromArray(S, c, r1 + L, mk) : z;
    FloatVector c20 = acc ? FloatVector.fromArray(S, c, r2) : z;
    FloatVector c21 = acc ? FloatVector.fromArray(S, c, r2 + L, mk) : z;
    FloatVector c30 = acc ? FloatVector.fromArray(S, c, r3) : z;
    FloatVector c31 = acc ? FloatVector.fromArray(S, c, r3 + L, mk) : z;
    for (int p = 0, bp = bi, ap = ai; p < k; p++, bp += ldb, ap += cs) {
      FloatVector b0 = FloatVector.fromArray(S, b, bp);
      FloatVector b1 = FloatVector.fromArray(S, b, bp + L, mk);
      FloatVector x = FloatVector.broadcast(S, a[ap]);
      c00 = b0.fma(x, c00);
      c01 = b1.fma(x, c01);
      x = FloatVector.broadcast(S, a[ap + rs]);
      c10 = b0.fma(x, c10);
      c11 = b1.fma(x, c11);
      x = FloatVector.broadcast(S, a[ap + 2 * rs]);
      c20 = b0.fma(x, c20);
      c21 = b1.fma(x, c21);
      x = FloatVector.broadcast(S, a[ap + 3 * rs]);
      c30 = b0.fma(x, c30);
      c31 = b1.fma(x, c31);
    }
    c00.intoArray(c, r0);
    c01.intoArray(c, r0 + L, mk);
    c10.intoArray(c, r1);
    c11.intoArray(c, r1 + L, mk);
    c20.intoArray(c, r2);
    c21.intoArray(c, r2 + L, mk);
    c30.intoArray(c, r3);
    c31.intoArray(c, r3 + L, mk);
  }

  /** C[4, tail] += A·B, {@code tail ≤ L}. */
  private static void k4x1(int k, float[] a, int ai, int rs, int cs, float[] b, int bi, int ldb,
      float[] c, int ci, int ldc, boolean acc, int tail) {
    VectorMask<Float> mk = S.indexInRange(0, tail);
    int r0 = ci;
    int r1 = r0 + ldc;
    int r2 = r1 + ldc;
    int r3 = r2 + ldc;
    FloatVector z = FloatVector.zero(S);
    FloatVector c0 = acc ? FloatVector.fromArray(S, c, r0, mk) : z;
    FloatVector c1 = acc ? FloatVector.fromArray(S, c, r1, mk) : z;
    FloatVector c2 = acc ? FloatVector.fromArray(S, c, r2, mk) : z;
    FloatVector c3 = acc ? FloatVector.fromArray(S, c, r3, mk) : z;
    for (int p = 0, bp = bi, ap = ai; p < k; p++, bp += ldb, ap += cs) {
      FloatVector b0 = FloatVector.fromArray(S, b, bp, mk);
      c0 = b0.fma(FloatVector.broadcast(S, a[ap]), c0);
      c1 = b0.fma(FloatVector.broadcast(S, a[ap + rs]), c1);
      c2 = b0.fma(FloatVector.broadcast(S, a[ap + 2 * rs]), c2);
      c3 = b0.fma(FloatVector.broadcast(S, a[ap + 3 * rs]), c3);
    }
    c0.intoArray(c, r0, mk);
    c1.intoArray(c, r1, mk);
    c2.intoArray(c, r2, mk);
    c3.intoArray(c, r3, mk);
  }

  /** One row of C, 4 vectors wide: for the rows left over below a multiple of 4. */
  private static void k1x4(int k, float[] a, int ai, int cs, float[] b, int bi, int ldb,
      float[] c, int ci, boolean acc) {
    FloatVector z = FloatVector.zero(S);
    FloatVector c0 = acc ? FloatVector.fromArray(S, c, ci) : z;
    FloatVector c1 = acc ? FloatVector.fromArray(S, c, ci + L) : z;
    FloatVector c2 = acc ? FloatVector.fromArray(S, c, ci + 2 * L) : z;
    FloatVector c3 = acc ? FloatVector.fromArray(S, c, ci + 3 * L) : z;
    for (int p = 0, bp = bi, ap = ai; p < k; p++, bp += ldb, ap += cs) {
      FloatVector x = FloatVector.broadcast(S, a[ap]);
      c0 = FloatVector.fromArray(S, b, bp).fma(x, c0);
      c1 = FloatVector.fromArray(S, b, bp + L).fma(x, c1);
      c2 = FloatVector.fromArray(S, b, bp + 2 * L).fma(x, c2);
      c3 = FloatVector.fromArray(S, b, bp + 3 * L).fma(x, c3);
    }
    c0.intoArray(c, ci);
    c1.intoArray(c, ci + L);
    c2.intoArray(c, ci + 2 * L);
    c3.intoArray(c, ci + 3 * L);
  }

  private static void k1x2(int k, float[] a, int ai, int cs, float[] b, int bi, int ldb,
      float[] c, int ci, boolean acc, int tail) {
    VectorMask<Float> mk = S.indexInRange(0, tail);
    FloatVector z = FloatVector.zero(S);
    FloatVector c0 = acc ? FloatVector.fromArray(S, c, ci) : z;
    FloatVector c1 = acc ? FloatVector.fromArray(S, c, ci + L, mk) : z;
    for (int p = 0, bp = bi, ap = ai; p < k; p++, bp += ldb, ap += cs) {
      FloatVector x = FloatVector.broadcast(S, a[ap]);
      c0 = FloatVector.fromArray(S, b, bp).fma(x, c0);
      c1 = FloatVector.fromArray(S, b, bp + L, mk).fma(x, c1);
    }
    c0.intoArray(c, ci);
    c1.intoArray(c, ci + L, mk);
  }

  private static void k1x1(int k, float[] a, int ai, int cs, float[] b, int bi, int ldb,
      float[] c, int ci, boolean acc, int tail) {
    VectorMask<Float> mk = S.indexInRange(0, tail);
    FloatVector c0 = acc ? FloatVector.fromArray(S, c, ci, mk) : FloatVector.zero(S);
    for (int p = 0, bp = bi, ap = ai; p < k; p++, bp += ldb, ap += cs) {
      c0 = FloatVector.fromArray(S, b, bp, mk).fma(FloatVector.broadcast(S, a[ap]), c0);
    }
    c0.intoArray(c, ci, mk);
  }

  /** The per-thread buffer {@link #gemmNT} transposes B into: grows to the largest size asked for, then reused. */
  private static final class TransposeBuffer {
    private float[] buf = new float[0];

    float[] floats(int size) {
      if (buf.length < size) {
        buf = new float[size];
      }
      return buf;
    }
  }
}
