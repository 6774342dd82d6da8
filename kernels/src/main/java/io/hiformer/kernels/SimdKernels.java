package io.hiformer.kernels;

import static io.hiformer.kernels.ScalarKernels.GELU_C;
import static io.hiformer.kernels.ScalarKernels.SQRT_2_OVER_PI;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The Vector API implementation at the preferred species (512 bits on AVX-512, 256 on AVX2).
 * Matrix products live in {@link SimdGemm}. Long 1-D kernels run full vectors then one masked
 * tail; row kernels (rows of 32 or so) step a masked vector along the row. Species and lane count
 * are static finals so C2 compiles them as constants. Masks are made where they are used: one
 * passed to a method that is not inlined gets boxed on the heap.
 */
final class SimdKernels implements CpuKernels {
  private static final VectorSpecies<Float> S = SimdGemm.S;
  private static final int L = S.length();

  private SimdKernels() {}

  /** Narrower than 8 floats a vector is no faster than the scalar loops, so refuse it. */
  static CpuKernels create() {
    if (L < 8) {
      throw new UnsupportedOperationException("preferred float vector has only " + L + " lanes");
    }
    return new SimdKernels();
  }

  @Override
  public String name() {
    return "simd-" + S.vectorBitSize();
  }

  @Override
  public void gemm(int m, int n, int k, float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
      float[] c, int cOff, int ldc, boolean accumulate) {
    if (n == 1 && ldb == 1) {
      // A matrix-vector product (the tower's output layer): one dot product per row beats
      // broadcasting into vectors with a single live lane.
      for (int i = 0; i < m; i++) {
        int ci = cOff + i * ldc;
        c[ci] = (accumulate ? c[ci] : 0f) + dot(k, a, aOff + i * lda, b, bOff);
      }
      return;
    }
    SimdGemm.gemm(m, n, k, a, aOff, lda, 1, b, bOff, ldb, c, cOff, ldc, accumulate);
  }

  @Override
  public void gemmTN(int m, int n, int k, float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
      float[] c, int cOff, int ldc) {
    SimdGemm.gemm(m, n, k, a, aOff, 1, lda, b, bOff, ldb, c, cOff, ldc, true);
  }

  @Override
  public void gemmNT(int m, int n, int k, float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
      float[] c, int cOff, int ldc, boolean accumulate) {
    SimdGemm.gemmNT(m, n, k, a, aOff, lda, b, bOff, ldb, c, cOff, ldc, accumulate);
  }

  @Override
  public void transpose(int rows, int cols, float[] a, int aOff, int lda, float[] b, int bOff, int ldb) {
    SimdGemm.transpose(rows, cols, a, aOff, lda, b, bOff, ldb);
  }

  @Override
  public void addRowVector(int rows, int n, float[] bias, int biasOff, float[] c, int cOff, int ldc) {
    for (int r = 0; r < rows; r++) {
      axpy(n, 1f, bias, biasOff, c, cOff + r * ldc);
    }
  }

  @Override
  public void sumRows(int rows, int n, float[] a, int aOff, int lda, float[] out, int outOff) {
    int j = 0;
    for (; j + L <= n; j += L) {
      FloatVector s = FloatVector.fromArray(S, out, outOff + j);
      for (int r = 0, ar = aOff + j; r < rows; r++, ar += lda) {
        s = s.add(FloatVector.fromArray(S, a, ar));
      }
      s.intoArray(out, outOff + j);
    }
    if (j < n) {
      VectorMask<Float> m = S.indexInRange(j, n);
      FloatVector s = FloatVector.fromArray(S, out, outOff + j, m);
      for (int r = 0, ar = aOff + j; r < rows; r++, ar += lda) {
        s = s.add(FloatVector.fromArray(S, a, ar, m));
      }
      s.intoArray(out, outOff + j, m);
    }
  }

  @Override
  public void axpy(int n, float alpha, float[] x, int xOff, float[] y, int yOff) {
    FloatVector av = FloatVector.broadcast(S, alpha);
    int i = 0;
    for (; i + L <= n; i += L) {
      FloatVector.fromArray(S, x, xOff + i)
          .fma(av, FloatVector.fromArray(S, y, yOff + i))
          .intoArray(y, yOff + i);
    }
    if (i < n) {
      VectorMask<Float> m = S.indexInRange(i, n);
      FloatVector.fromArray(S, x, xOff + i, m)
          .fma(av, FloatVector.fromArray(S, y, yOff + i, m))
          .intoArray(y, yOff + i, m);
    }
  }

  @Override
  public void scale(int n, float alpha, float[] x, int xOff) {
    int i = 0;
    for (; i + L <= n; i += L) {
      FloatVector.fromArray(S, x, xOff + i).mul(alpha).intoArray(x, xOff + i);
    }
    if (i < n) {
      VectorMask<Float> m = S.indexInRange(i, n);
      FloatVector.fromArray(S, x, xOff + i, m).mul(alpha).intoArray(x, xOff + i, m);
    }
  }

  @Override
  public float dot(int n, float[] x, int xOff, float[] y, int yOff) {
    // Two accumulators so consecutive FMAs do not wait on each other's latency.
    FloatVector s0 = FloatVector.zero(S);
    FloatVector s1 = FloatVector.zero(S);
    int i = 0;
    for (; i + 2 * L <= n; i += 2 * L) {
      s0 = FloatVector.fromArray(S, x, xOff + i).fma(FloatVector.fromArray(S, y, yOff + i), s0);
      s1 = FloatVector.fromArray(S, x, xOff + i + L)
          .fma(FloatVector.fromArray(S, y, yOff + i + L), s1);
    }
    for (; i < n; i += L) {
      VectorMask<Float> m = S.indexInRange(i, n);
      s0 = FloatVector.fromArray(S, x, xOff + i, m).fma(FloatVector.fromArray(S, y, yOff + i, m), s0);
    }
    return s0.add(s1).reduceLanes(VectorOperators.ADD);
  }

  @Override
  public void layerNorm(int rows, int n, float[] x, int xOff, int ldx, float[] gamma, int gammaOff,
      float[] beta, int betaOff, float[] y, int yOff, int ldy, float[] mean, float[] rstd, int statOff) {
    for (int r = 0; r < rows; r++) {
      int xr = xOff + r * ldx;
      int yr = yOff + r * ldy;
      FloatVector sum = FloatVector.zero(S);
      for (int j = 0; j < n; j += L) {
        sum = sum.add(FloatVector.fromArray(S, x, xr + j, S.indexInRange(j, n)));
      }
      float mu = sum.reduceLanes(VectorOperators.ADD) / n;
      FloatVector var = FloatVector.zero(S);
      for (int j = 0; j < n; j += L) {
        VectorMask<Float> m = S.indexInRange(j, n);
        FloatVector c = FloatVector.fromArray(S, x, xr + j, m).sub(mu, m);
        var = c.fma(c, var);
      }
      float rs = (float) (1.0 / Math.sqrt(var.reduceLanes(VectorOperators.ADD) / n + LAYER_NORM_EPS));
      for (int j = 0; j < n; j += L) {
        VectorMask<Float> m = S.indexInRange(j, n);
        FloatVector.fromArray(S, x, xr + j, m).sub(mu).mul(rs)
            .fma(FloatVector.fromArray(S, gamma, gammaOff + j, m),
                FloatVector.fromArray(S, beta, betaOff + j, m))
            .intoArray(y, yr + j, m);
      }
      mean[statOff + r] = mu;
      rstd[statOff + r] = rs;
    }
  }

  @Override
  public void layerNormBackward(int rows, int n, float[] dy, int dyOff, int lddy, float[] x, int xOff,
      int ldx, float[] gamma, int gammaOff, float[] mean, float[] rstd, int statOff, float[] dx,
      int dxOff, int lddx, float[] dgamma, float[] dbeta, int dgammaOff) {
    // One small method per pass: as one method, C1 ran out of registers ("out of virtual
    // registers in LIR generator") and the kernel stayed on the slow, boxed path until C2 caught up.
    for (int r = 0; r < rows; r++) {
      int dyr = dyOff + r * lddy;
      int xr = xOff + r * ldx;
      float mu = mean[statOff + r];
      float rs = rstd[statOff + r];
      // dxhat = dy·gamma; dx = rstd·(dxhat - mean(dxhat) - xhat·mean(dxhat·xhat))
      float meanG = dot(n, dy, dyr, gamma, gammaOff) / n;
      float meanGX = sumGammaXhat(n, dy, dyr, gamma, gammaOff, x, xr, mu, rs) / n;
      normGradients(n, dy, dyr, x, xr, mu, rs, dgamma, dbeta, dgammaOff);
      addInputGradient(n, dy, dyr, gamma, gammaOff, x, xr, mu, rs, meanG, meanGX, dx, dxOff + r * lddx);
    }
  }

  /** Σ dy·gamma·xhat over one row. */
  private static float sumGammaXhat(int n, float[] dy, int dyr, float[] gamma, int gammaOff, float[] x, int xr,
      float mu, float rs) {
    FloatVector acc = FloatVector.zero(S);
    for (int j = 0; j < n; j += L) {
      VectorMask<Float> m = S.indexInRange(j, n);
      FloatVector xhat = FloatVector.fromArray(S, x, xr + j, m).sub(mu).mul(rs);
      FloatVector g = FloatVector.fromArray(S, dy, dyr + j, m).mul(FloatVector.fromArray(S, gamma, gammaOff + j, m));
      acc = g.fma(xhat, acc);
    }
    return acc.reduceLanes(VectorOperators.ADD);
  }

  /** dgamma += dy·xhat, dbeta += dy over one row. */
  private static void normGradients(int n, float[] dy, int dyr, float[] x, int xr, float mu, float rs,
      float[] dgamma, float[] dbeta, int off) {
    for (int j = 0; j < n; j += L) {
      VectorMask<Float> m = S.indexInRange(j, n);
      FloatVector xhat = FloatVector.fromArray(S, x, xr + j, m).sub(mu).mul(rs);
      FloatVector d = FloatVector.fromArray(S, dy, dyr + j, m);
      d.fma(xhat, FloatVector.fromArray(S, dgamma, off + j, m)).intoArray(dgamma, off + j, m);
      d.add(FloatVector.fromArray(S, dbeta, off + j, m)).intoArray(dbeta, off + j, m);
    }
  }

  /** dx += rstd·(dy·gamma - mean(dy·gamma) - xhat·mean(dy·gamma·xhat)) over one row. */
  private static void addInputGradient(int n, float[] dy, int dyr, float[] gamma, int gammaOff, float[] x, int xr,
      float mu, float rs, float meanG, float meanGX, float[] dx, int dxr) {
    for (int j = 0; j < n; j += L) {
      VectorMask<Float> m = S.indexInRange(j, n);
      FloatVector xhat = FloatVector.fromArray(S, x, xr + j, m).sub(mu).mul(rs);
      FloatVector g = FloatVector.fromArray(S, dy, dyr + j, m).mul(FloatVector.fromArray(S, gamma, gammaOff + j, m));
      g.sub(meanG).sub(xhat.mul(meanGX)).mul(rs)
          .add(FloatVector.fromArray(S, dx, dxr + j, m))
          .intoArray(dx, dxr + j, m);
    }
  }


  @Override
  public void gelu(int n, float[] x, int xOff, float[] y, int yOff) {
    for (int i = 0; i < n; i += L) {
      VectorMask<Float> m = S.indexInRange(i, n);
      FloatVector v = FloatVector.fromArray(S, x, xOff + i, m);
      // tanh(sqrt(2/pi)·(v + c·v³)), written out here: a helper taking a vector may not be
      // inlined (TANH is large), and an out-of-line vector is boxed and runs the slow path
      FloatVector t = v.mul(v).fma(GELU_C, 1f).mul(v).mul(SQRT_2_OVER_PI).lanewise(VectorOperators.TANH);
      v.mul(0.5f).fma(t, v.mul(0.5f)).intoArray(y, yOff + i, m);
    }
  }

  @Override
  public void geluBackward(int n, float[] x, int xOff, float[] dy, int dyOff, float[] dx, int dxOff) {
    for (int i = 0; i < n; i += L) {
      VectorMask<Float> m = S.indexInRange(i, n);
      FloatVector v = FloatVector.fromArray(S, x, xOff + i, m);
      FloatVector t = v.mul(v).fma(GELU_C, 1f).mul(v).mul(SQRT_2_OVER_PI).lanewise(VectorOperators.TANH);
      // dt = sqrt(2/pi)·(1 + 3c·v²)·(1 - t²); dx = dy·(0.5·(1 + t) + 0.5·v·dt)
      FloatVector dt = v.mul(v).fma(3f * GELU_C, 1f).mul(SQRT_2_OVER_PI).mul(t.mul(t).neg().add(1f));
      FloatVector grad = t.add(1f).add(v.mul(dt)).mul(0.5f);
      FloatVector.fromArray(S, dy, dyOff + i, m).mul(grad).intoArray(dx, dxOff + i, m);
    }
  }

  @Override
  public void relu(int n, float[] x, int xOff) {
    for (int i = 0; i < n; i += L) {
      VectorMask<Float> m = S.indexInRange(i, n);
      FloatVector v = FloatVector.fromArray(S, x, xOff + i, m);
      // Zero only lanes below 0, as the scalar path does (NaN and -0 pass through).
      v.blend(0f, v.lt(0f)).intoArray(x, xOff + i, m);
    }
  }

  @Override
  public void reluBackward(int n, float[] y, int yOff, float[] dy, int dyOff) {
    FloatVector z = FloatVector.zero(S);
    for (int i = 0; i < n; i += L) {
      VectorMask<Float> m = S.indexInRange(i, n);
      VectorMask<Float> on = FloatVector.fromArray(S, y, yOff + i, m).compare(VectorOperators.GT, 0f);
      z.blend(FloatVector.fromArray(S, dy, dyOff + i, m), on).intoArray(dy, dyOff + i, m);
    }
  }

  @Override
  public void softmaxRows(int rows, int n, float scale, float[] x, int xOff, int ldx) {
    for (int r = 0; r < rows; r++) {
      int xr = xOff + r * ldx;
      FloatVector mx = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
      for (int j = 0; j < n; j += L) {
        VectorMask<Float> m = S.indexInRange(j, n);
        mx = mx.lanewise(VectorOperators.MAX, FloatVector.fromArray(S, x, xr + j, m).mul(scale), m);
      }
      float max = mx.reduceLanes(VectorOperators.MAX);
      FloatVector sum = FloatVector.zero(S);
      for (int j = 0; j < n; j += L) {
        VectorMask<Float> m = S.indexInRange(j, n);
        FloatVector e = FloatVector.fromArray(S, x, xr + j, m).mul(scale).sub(max)
            .lanewise(VectorOperators.EXP);
        e.intoArray(x, xr + j, m);
        sum = sum.add(e, m);
      }
      float inv = 1f / sum.reduceLanes(VectorOperators.ADD);
      scale(n, inv, x, xr);
    }
  }

  @Override
  public void softmaxBackwardRows(int rows, int n, float[] p, int pOff, int ldp, float[] dp, int dpOff,
      int lddp) {
    for (int r = 0; r < rows; r++) {
      int pr = pOff + r * ldp;
      int dr = dpOff + r * lddp;
      float s = dot(n, p, pr, dp, dr);
      for (int j = 0; j < n; j += L) {
        VectorMask<Float> m = S.indexInRange(j, n);
        FloatVector pv = FloatVector.fromArray(S, p, pr + j, m);
        pv.mul(FloatVector.fromArray(S, dp, dr + j, m).sub(s)).intoArray(dp, dr + j, m);
      }
    }
  }

  @Override
  public void gatherRows(int count, int[] ids, int idsOff, int idsStride, float[] table, int d,
      float[] out, int outOff, int outStride) {
    // A gather is row copies, and arraycopy is already a vectorised intrinsic: share the scalar one.
    ScalarKernels.INSTANCE.gatherRows(count, ids, idsOff, idsStride, table, d, out, outOff, outStride);
  }

  @Override
  public void scatterAddRows(int count, int[] ids, int idsOff, int idsStride, float[] src, int srcOff,
      int srcStride, float scale, float[] table, int d) {
    for (int i = 0; i < count; i++) {
      axpy(d, scale, src, srcOff + i * srcStride, table, ids[idsOff + i * idsStride] * d);
    }
  }
}
