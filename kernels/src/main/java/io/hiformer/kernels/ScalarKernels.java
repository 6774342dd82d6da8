package io.hiformer.kernels;

/**
 * Plain loops: the reference every other implementation is tested against, and the fallback.
 * Products, dot products and LayerNorm statistics sum in double, so the reference stays within a
 * few float32 ulps of a float64 computation even on deep, ill-conditioned models.
 */
final class ScalarKernels implements CpuKernels {
  static final ScalarKernels INSTANCE = new ScalarKernels();

  private ScalarKernels() {}

  @Override
  public String name() {
    return "scalar";
  }

  /** Per-thread row of double accumulators: the reference sums in double to stay close to float64. */
  private static final ThreadLocal<double[]> ROW = ThreadLocal.withInitial(() -> new double[256]);

  private static double[] row(int n) {
    double[] r = ROW.get();
    if (r.length < n) {
      r = new double[Math.max(n, r.length * 2)];
      ROW.set(r);
    }
    return r;
  }

  @Override
  public void gemm(int m, int n, int k, float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
      float[] c, int cOff, int ldc, boolean accumulate) {
    gemmStrided(m, n, k, a, aOff, lda, 1, b, bOff, ldb, c, cOff, ldc, accumulate);
  }

  @Override
  public void gemmTN(int m, int n, int k, float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
      float[] c, int cOff, int ldc) {
    gemmStrided(m, n, k, a, aOff, 1, lda, b, bOff, ldb, c, cOff, ldc, true);
  }

  /** {@code C (+)= A·B} with {@code A(i,p) = a[aOff + i·ars + p·acs]}, summed in double per row of C. */
  private static void gemmStrided(int m, int n, int k, float[] a, int aOff, int ars, int acs,
      float[] b, int bOff, int ldb, float[] c, int cOff, int ldc, boolean accumulate) {
    double[] acc = row(n);
    for (int i = 0; i < m; i++) {
      int ci = cOff + i * ldc;
      for (int j = 0; j < n; j++) {
        acc[j] = accumulate ? c[ci + j] : 0.0;
      }
      for (int p = 0; p < k; p++) {
        double aip = a[aOff + i * ars + p * acs];
        int bp = bOff + p * ldb;
        for (int j = 0; j < n; j++) {
          acc[j] += aip * b[bp + j];
        }
      }
      for (int j = 0; j < n; j++) {
        c[ci + j] = (float) acc[j];
      }
    }
  }

  @Override
  public void gemmNT(int m, int n, int k, float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
      float[] c, int cOff, int ldc, boolean accumulate) {
    for (int i = 0; i < m; i++) {
      int ai = aOff + i * lda;
      int ci = cOff + i * ldc;
      for (int j = 0; j < n; j++) {
        int bj = bOff + j * ldb;
        double s = accumulate ? c[ci + j] : 0.0;
        for (int p = 0; p < k; p++) {
          s += (double) a[ai + p] * b[bj + p];
        }
        c[ci + j] = (float) s;
      }
    }
  }

  @Override
  public void addRowVector(int rows, int n, float[] bias, int biasOff, float[] c, int cOff, int ldc) {
    for (int r = 0; r < rows; r++) {
      int cr = cOff + r * ldc;
      for (int j = 0; j < n; j++) {
        c[cr + j] += bias[biasOff + j];
      }
    }
  }

  @Override
  public void sumRows(int rows, int n, float[] a, int aOff, int lda, float[] out, int outOff) {
    for (int r = 0; r < rows; r++) {
      int ar = aOff + r * lda;
      for (int j = 0; j < n; j++) {
        out[outOff + j] += a[ar + j];
      }
    }
  }

  @Override
  public void axpy(int n, float alpha, float[] x, int xOff, float[] y, int yOff) {
    for (int i = 0; i < n; i++) {
      y[yOff + i] += alpha * x[xOff + i];
    }
  }

  @Override
  public void scale(int n, float alpha, float[] x, int xOff) {
    for (int i = 0; i < n; i++) {
      x[xOff + i] *= alpha;
    }
  }

  @Override
  public float dot(int n, float[] x, int xOff, float[] y, int yOff) {
    double s = 0;
    for (int i = 0; i < n; i++) {
      s += (double) x[xOff + i] * y[yOff + i];
    }
    return (float) s;
  }

  @Override
  public void transpose(int rows, int cols, float[] a, int aOff, int lda, float[] b, int bOff, int ldb) {
    for (int i = 0; i < rows; i++) {
      for (int j = 0; j < cols; j++) {
        b[bOff + j * ldb + i] = a[aOff + i * lda + j];
      }
    }
  }

  @Override
  public void layerNorm(int rows, int n, float[] x, int xOff, int ldx, float[] gamma, int gammaOff,
      float[] beta, int betaOff, float[] y, int yOff, int ldy, float[] mean, float[] rstd, int statOff) {
    for (int r = 0; r < rows; r++) {
      int xr = xOff + r * ldx;
      int yr = yOff + r * ldy;
      double sum = 0;
      for (int j = 0; j < n; j++) {
        sum += x[xr + j];
      }
      double mu = sum / n;
      double var = 0;
      for (int j = 0; j < n; j++) {
        double c = x[xr + j] - mu;
        var += c * c;
      }
      double rs = 1.0 / Math.sqrt(var / n + LAYER_NORM_EPS);
      for (int j = 0; j < n; j++) {
        y[yr + j] = (float) ((x[xr + j] - mu) * rs * gamma[gammaOff + j] + beta[betaOff + j]);
      }
      mean[statOff + r] = (float) mu;
      rstd[statOff + r] = (float) rs;
    }
  }

  @Override
  public void layerNormBackward(int rows, int n, float[] dy, int dyOff, int lddy, float[] x, int xOff,
      int ldx, float[] gamma, int gammaOff, float[] mean, float[] rstd, int statOff, float[] dx,
      int dxOff, int lddx, float[] dgamma, float[] dbeta, int dgammaOff) {
    for (int r = 0; r < rows; r++) {
      int dyr = dyOff + r * lddy;
      int xr = xOff + r * ldx;
      int dxr = dxOff + r * lddx;
      float mu = mean[statOff + r];
      float rs = rstd[statOff + r];
      // dxhat = dy·gamma; dx = rstd·(dxhat - mean(dxhat) - xhat·mean(dxhat·xhat))
      float sumG = 0f;
      float sumGX = 0f;
      for (int j = 0; j < n; j++) {
        float xhat = (x[xr + j] - mu) * rs;
        float g = dy[dyr + j] * gamma[gammaOff + j];
        sumG += g;
        sumGX += g * xhat;
        dgamma[dgammaOff + j] += dy[dyr + j] * xhat;
        dbeta[dgammaOff + j] += dy[dyr + j];
      }
      float meanG = sumG / n;
      float meanGX = sumGX / n;
      for (int j = 0; j < n; j++) {
        float xhat = (x[xr + j] - mu) * rs;
        float g = dy[dyr + j] * gamma[gammaOff + j];
        dx[dxr + j] += rs * (g - meanG - xhat * meanGX);
      }
    }
  }

  static final float SQRT_2_OVER_PI = (float) Math.sqrt(2.0 / Math.PI);
  static final float GELU_C = 0.044715f;

  @Override
  public void gelu(int n, float[] x, int xOff, float[] y, int yOff) {
    for (int i = 0; i < n; i++) {
      float v = x[xOff + i];
      float t = (float) Math.tanh(SQRT_2_OVER_PI * (v + GELU_C * v * v * v));
      y[yOff + i] = 0.5f * v * (1f + t);
    }
  }

  @Override
  public void geluBackward(int n, float[] x, int xOff, float[] dy, int dyOff, float[] dx, int dxOff) {
    for (int i = 0; i < n; i++) {
      float v = x[xOff + i];
      float t = (float) Math.tanh(SQRT_2_OVER_PI * (v + GELU_C * v * v * v));
      float dt = SQRT_2_OVER_PI * (1f + 3f * GELU_C * v * v) * (1f - t * t);
      dx[dxOff + i] = dy[dyOff + i] * (0.5f * (1f + t) + 0.5f * v * dt);
    }
  }

  @Override
  public void relu(int n, float[] x, int xOff) {
    for (int i = 0; i < n; i++) {
      if (x[xOff + i] < 0f) {
        x[xOff + i] = 0f;
      }
    }
  }

  @Override
  public void reluBackward(int n, float[] y, int yOff, float[] dy, int dyOff) {
    for (int i = 0; i < n; i++) {
      if (!(y[yOff + i] > 0f)) {
        dy[dyOff + i] = 0f;
      }
    }
  }

  @Override
  public void softmaxRows(int rows, int n, float scale, float[] x, int xOff, int ldx) {
    for (int r = 0; r < rows; r++) {
      int xr = xOff + r * ldx;
      float max = Float.NEGATIVE_INFINITY;
      for (int j = 0; j < n; j++) {
        max = Math.max(max, x[xr + j] * scale);
      }
      float sum = 0f;
      for (int j = 0; j < n; j++) {
        float e = (float) Math.exp(x[xr + j] * scale - max);
        x[xr + j] = e;
        sum += e;
      }
      float inv = 1f / sum;
      for (int j = 0; j < n; j++) {
        x[xr + j] *= inv;
      }
    }
  }

  @Override
  public void softmaxBackwardRows(int rows, int n, float[] p, int pOff, int ldp, float[] dp, int dpOff, int lddp) {
    for (int r = 0; r < rows; r++) {
      int pr = pOff + r * ldp;
      int dr = dpOff + r * lddp;
      float s = 0f;
      for (int j = 0; j < n; j++) {
        s += p[pr + j] * dp[dr + j];
      }
      for (int j = 0; j < n; j++) {
        dp[dr + j] = p[pr + j] * (dp[dr + j] - s);
      }
    }
  }

  @Override
  public void gatherRows(int count, int[] ids, int idsOff, int idsStride, float[] table, int d,
      float[] out, int outOff, int outStride) {
    for (int i = 0; i < count; i++) {
      System.arraycopy(table, ids[idsOff + i * idsStride] * d, out, outOff + i * outStride, d);
    }
  }

  @Override
  public void scatterAddRows(int count, int[] ids, int idsOff, int idsStride, float[] src, int srcOff,
      int srcStride, float scale, float[] table, int d) {
    for (int i = 0; i < count; i++) {
      int t = ids[idsOff + i * idsStride] * d;
      int s = srcOff + i * srcStride;
      for (int j = 0; j < d; j++) {
        table[t + j] += scale * src[s + j];
      }
    }
  }
}
