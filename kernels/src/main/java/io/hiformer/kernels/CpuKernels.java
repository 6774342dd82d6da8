package io.hiformer.kernels;

/**
 * The numeric kernels the model needs, on flat row-major float arrays addressed by offset and
 * leading dimension (the distance between consecutive rows). Two implementations exist: a plain
 * scalar one, the reference and fallback, and a SIMD one on the Vector API. {@link #best()} picks
 * once per JVM.
 *
 * <p>Every kernel is allocation-free on the hot path and safe to call from many threads at once
 * on disjoint outputs. Kernels that "accumulate" add into their output; the others overwrite it.
 */
public interface CpuKernels {

  /** LayerNorm's epsilon, fixed by the model spec. */
  float LAYER_NORM_EPS = 1e-5f;

  /** The implementation chosen for this JVM: SIMD when the Vector API is usable, else scalar. */
  static CpuKernels best() {
    return KernelSelector.BEST;
  }

  /** The scalar reference implementation. */
  static CpuKernels scalar() {
    return ScalarKernels.INSTANCE;
  }

  /** The SIMD implementation; throws {@link UnsupportedOperationException} where the Vector API is absent. */
  static CpuKernels simd() {
    return KernelSelector.simd();
  }

  /** A short name for logs and benchmarks, e.g. {@code scalar} or {@code simd-512}. */
  String name();

  /** {@code C[m,n] = (accumulate ? C : 0) + A[m,k] · B[k,n]}. */
  void gemm(int m, int n, int k,
      float[] a, int aOff, int lda,
      float[] b, int bOff, int ldb,
      float[] c, int cOff, int ldc, boolean accumulate);

  /** {@code C[m,n] += A[k,m]ᵀ · B[k,n]}: the weight gradient of {@code gemm}. Always accumulates. */
  void gemmTN(int m, int n, int k,
      float[] a, int aOff, int lda,
      float[] b, int bOff, int ldb,
      float[] c, int cOff, int ldc);

  /** {@code C[m,n] = (accumulate ? C : 0) + A[m,k] · B[n,k]ᵀ}: the input gradient of {@code gemm}. */
  void gemmNT(int m, int n, int k,
      float[] a, int aOff, int lda,
      float[] b, int bOff, int ldb,
      float[] c, int cOff, int ldc, boolean accumulate);

  /** {@code C[r,:] += bias} for each of {@code rows} rows of width {@code n}. */
  void addRowVector(int rows, int n, float[] bias, int biasOff, float[] c, int cOff, int ldc);

  /** {@code out[:] += Σ_r A[r,:]}: the gradient of {@link #addRowVector}. */
  void sumRows(int rows, int n, float[] a, int aOff, int lda, float[] out, int outOff);

  /** {@code y += alpha · x} over {@code n} elements. */
  void axpy(int n, float alpha, float[] x, int xOff, float[] y, int yOff);

  /** {@code x *= alpha} over {@code n} elements. */
  void scale(int n, float alpha, float[] x, int xOff);

  /** Σ x·y over {@code n} elements. */
  float dot(int n, float[] x, int xOff, float[] y, int yOff);

  /** {@code B[j,i] = A[i,j]} for an A of {@code rows × cols}. */
  void transpose(int rows, int cols, float[] a, int aOff, int lda, float[] b, int bOff, int ldb);

  /**
   * LayerNorm over each row of width {@code n} (biased variance, {@link #LAYER_NORM_EPS}):
   * {@code y = (x - mean) · rstd · gamma + beta}. Writes each row's mean and 1/std to
   * {@code mean[statOff + r]} and {@code rstd[statOff + r]} for the backward pass.
   */
  void layerNorm(int rows, int n,
      float[] x, int xOff, int ldx,
      float[] gamma, int gammaOff, float[] beta, int betaOff,
      float[] y, int yOff, int ldy,
      float[] mean, float[] rstd, int statOff);

  /**
   * Backward of {@link #layerNorm}: accumulates into {@code dx}, {@code dgamma} and {@code dbeta}
   * given the upstream gradient {@code dy}, the input {@code x} and the saved statistics.
   */
  void layerNormBackward(int rows, int n,
      float[] dy, int dyOff, int lddy,
      float[] x, int xOff, int ldx,
      float[] gamma, int gammaOff,
      float[] mean, float[] rstd, int statOff,
      float[] dx, int dxOff, int lddx,
      float[] dgamma, float[] dbeta, int dgammaOff);

  /** {@code y = GELU(x)}, tanh form; {@code y} may be {@code x}. */
  void gelu(int n, float[] x, int xOff, float[] y, int yOff);

  /** {@code dx = dy · GELU'(x)}; {@code dx} may be {@code dy}. */
  void geluBackward(int n, float[] x, int xOff, float[] dy, int dyOff, float[] dx, int dxOff);

  /** {@code x = max(x, 0)} in place. */
  void relu(int n, float[] x, int xOff);

  /** {@code dy = dy · [y > 0]} in place, with {@code y} the ReLU's output. */
  void reluBackward(int n, float[] y, int yOff, float[] dy, int dyOff);

  /** {@code x = softmax(scale · x)} for each row of width {@code n}, in place, the maximum subtracted first. */
  void softmaxRows(int rows, int n, float scale, float[] x, int xOff, int ldx);

  /** Backward of {@link #softmaxRows}, in place: {@code dp = p · (dp - Σ dp·p)} per row. */
  void softmaxBackwardRows(int rows, int n, float[] p, int pOff, int ldp, float[] dp, int dpOff, int lddp);

  /**
   * Embedding gather: for each {@code i < count},
   * {@code out[outOff + i·outStride ..+d] = table[ids[idsOff + i·idsStride]·d ..+d]}.
   */
  void gatherRows(int count, int[] ids, int idsOff, int idsStride,
      float[] table, int d, float[] out, int outOff, int outStride);

  /**
   * Embedding scatter-add, the gradient of a gather: for each {@code i < count},
   * {@code table[ids[idsOff + i·idsStride]·d ..+d] += scale · src[srcOff + i·srcStride ..+d]}.
   * Repeated ids add up.
   */
  void scatterAddRows(int count, int[] ids, int idsOff, int idsStride,
      float[] src, int srcOff, int srcStride, float scale, float[] table, int d);
}
