package io.hiformer.kernels;

/**
 * Multi-head softmax attention for one example, forward and backward, built on the primitives of
 * a {@link CpuKernels} so that it runs scalar or SIMD with the kernels it is given.
 *
 * <p>Queries are {@code [r, d]}, keys and values {@code [l, d]}, {@code d = heads · dh}; head h
 * owns columns {@code h·dh .. h·dh+dh-1}. With {@code r < l} only the first r query rows exist
 * (the pruned last layer asks only the task tokens). Probabilities are kept as
 * {@code [heads, r, l]} for the backward pass.
 */
public final class Attention {
  private Attention() {}

  /** Scratch floats that {@link #forward} and {@link #backward} need. */
  public static int scratchSize(int r, int l, int d) {
    return Math.max(d * l, r * l);
  }

  /** {@code out[r, d] = concat_h softmax(Q_h K_hᵀ / sqrt(dh)) V_h}; writes the probabilities. */
  public static void forward(CpuKernels kern, int r, int l, int heads, int dh,
      float[] q, int qOff, float[] k, int kOff, float[] v, int vOff,
      float[] probs, int probsOff, float[] out, int outOff, float[] scratch) {
    int d = heads * dh;
    float scale = (float) (1.0 / Math.sqrt(dh));
    kern.transpose(l, d, k, kOff, d, scratch, 0, l); // Kᵀ [d, l]: head h is rows h·dh.., contiguous
    for (int h = 0; h < heads; h++) {
      int p = probsOff + h * r * l;
      kern.gemm(r, l, dh, q, qOff + h * dh, d, scratch, h * dh * l, l, probs, p, l, false);
      kern.softmaxRows(r, l, scale, probs, p, l);
      kern.gemm(r, dh, l, probs, p, l, v, vOff + h * dh, d, out, outOff + h * dh, d, false);
    }
  }

  /**
   * Given {@code dOut[r, d]}: writes {@code dq[r, d]} and adds into {@code dk[l, d]} and
   * {@code dv[l, d]}.
   */
  public static void backward(CpuKernels kern, int r, int l, int heads, int dh,
      float[] q, int qOff, float[] k, int kOff, float[] v, int vOff,
      float[] probs, int probsOff, float[] dOut, int dOutOff,
      float[] dq, int dqOff, float[] dk, int dkOff, float[] dv, int dvOff, float[] scratch) {
    int d = heads * dh;
    float scale = (float) (1.0 / Math.sqrt(dh));
    for (int h = 0; h < heads; h++) {
      int p = probsOff + h * r * l;
      int c = h * dh;
      kern.gemmNT(r, l, dh, dOut, dOutOff + c, d, v, vOff + c, d, scratch, 0, l, false); // dA
      kern.gemmTN(l, dh, r, probs, p, l, dOut, dOutOff + c, d, dv, dvOff + c, d);       // dV += Aᵀ dO
      kern.softmaxBackwardRows(r, l, probs, p, l, scratch, 0, l);                        // dS
      kern.scale(r * l, scale, scratch, 0);
      kern.gemm(r, dh, l, scratch, 0, l, k, kOff + c, d, dq, dqOff + c, d, false);      // dQ = dS K
      kern.gemmTN(l, dh, r, scratch, 0, l, q, qOff + c, d, dk, dkOff + c, d);            // dK += dSᵀ Q
    }
  }
}
