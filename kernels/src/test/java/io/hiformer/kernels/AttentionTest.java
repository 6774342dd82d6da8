package io.hiformer.kernels;

import static io.hiformer.kernels.KernelGradientTest.numericGradient;
import static io.hiformer.kernels.KernelGradientTest.toDouble;
import static io.hiformer.kernels.TestArrays.assertClose;
import static io.hiformer.kernels.TestArrays.uniform;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** {@link Attention} on both kernel sets against each other, a double reference and finite differences. */
class AttentionTest {
  private static final CpuKernels SCALAR = CpuKernels.scalar();
  private static final CpuKernels SIMD = CpuKernels.simd();

  /** One example's operands; q, k, v and dOut are dense {@code [rows, d]} at offset 1. */
  private record Example(int r, int l, int heads, int dh, float[] q, float[] k, float[] v, float[] dOut) {
    int d() {
      return heads * dh;
    }

    static Example random(int r, int l, int heads, int dh) {
      Random rnd = new Random(r * 1000 + l * 10 + heads);
      int d = heads * dh;
      float[] q = uniform(rnd, 1 + r * d);
      float[] k = uniform(rnd, 1 + l * d);
      for (int i = 0; i < q.length; i++) {
        q[i] *= 2; // peakier softmax than uniform inputs give
      }
      return new Example(r, l, heads, dh, q, k, uniform(rnd, 1 + l * d), uniform(rnd, 1 + r * d));
    }

    /** {out, probs}. */
    float[][] forward(CpuKernels kern) {
      float[] probs = new float[1 + heads * r * l];
      float[] out = new float[1 + r * d()];
      Attention.forward(kern, r, l, heads, dh, q, 1, k, 1, v, 1, probs, 1, out, 1,
          new float[Attention.scratchSize(r, l, d())]);
      return new float[][] {out, probs};
    }

    /** {dq, dk, dv}; dk and dv start from {@code init} since backward adds into them. */
    float[][] backward(CpuKernels kern, float init) {
      float[] probs = forward(kern)[1];
      float[] dq = new float[q.length];
      float[] dk = new float[k.length];
      float[] dv = new float[v.length];
      Arrays.fill(dk, init);
      Arrays.fill(dv, init);
      Attention.backward(kern, r, l, heads, dh, q, 1, k, 1, v, 1, probs, 1, dOut, 1,
          dq, 1, dk, 1, dv, 1, new float[Attention.scratchSize(r, l, d())]);
      return new float[][] {dq, dk, dv};
    }

    /** Σ dOut·out in double, straight from the definition. */
    double loss(double[] qd, double[] kd, double[] vd) {
      int d = d();
      double loss = 0;
      double[] s = new double[l];
      for (int h = 0; h < heads; h++) {
        for (int i = 0; i < r; i++) {
          double max = Double.NEGATIVE_INFINITY;
          for (int j = 0; j < l; j++) {
            double dotp = 0;
            for (int c = h * dh; c < h * dh + dh; c++) {
              dotp += qd[1 + i * d + c] * kd[1 + j * d + c];
            }
            s[j] = dotp / Math.sqrt(dh);
            max = Math.max(max, s[j]);
          }
          double sum = 0;
          for (int j = 0; j < l; j++) {
            s[j] = Math.exp(s[j] - max);
            sum += s[j];
          }
          for (int c = h * dh; c < h * dh + dh; c++) {
            double o = 0;
            for (int j = 0; j < l; j++) {
              o += s[j] / sum * vd[1 + j * d + c];
            }
            loss += dOut[1 + i * d + c] * o;
          }
        }
      }
      return loss;
    }
  }

  @ParameterizedTest
  @CsvSource({"30, 30, 4, 8", "2, 30, 4, 8", "7, 9, 3, 5", "1, 17, 2, 16"})
  void simdMatchesScalar(int r, int l, int heads, int dh) {
    Example ex = Example.random(r, l, heads, dh);
    float[][] want = ex.forward(SCALAR);
    float[][] got = ex.forward(SIMD);
    assertClose("out", want[0], got[0], 1e-5);
    assertClose("probs", want[1], got[1], 1e-5);
    float[][] gradWant = ex.backward(SCALAR, 0.5f);
    float[][] gradGot = ex.backward(SIMD, 0.5f);
    assertClose("dq", gradWant[0], gradGot[0], 1e-5);
    assertClose("dk", gradWant[1], gradGot[1], 1e-5);
    assertClose("dv", gradWant[2], gradGot[2], 1e-5);
  }

  @ParameterizedTest
  @CsvSource({"30, 30, 4, 8", "2, 30, 4, 8", "7, 9, 3, 5"})
  void backwardIsTheGradientOfForward(int r, int l, int heads, int dh) {
    Example ex = Example.random(r, l, heads, dh);
    double[] q = toDouble(ex.q());
    double[] k = toDouble(ex.k());
    double[] v = toDouble(ex.v());
    double[] dq = numericGradient(q, x -> ex.loss(x, k, v));
    double[] dk = numericGradient(k, x -> ex.loss(q, x, v));
    double[] dv = numericGradient(v, x -> ex.loss(q, k, x));
    double loss = ex.loss(q, k, v);
    for (CpuKernels kern : new CpuKernels[] {SCALAR, SIMD}) {
      float[] out = ex.forward(kern)[0];
      double forwardLoss = 0;
      for (int i = 0; i < out.length; i++) {
        forwardLoss += (double) ex.dOut()[i] * out[i];
      }
      assertThat(forwardLoss).as(kern.name() + " forward").isCloseTo(loss, within(1e-4 * (1 + Math.abs(loss))));
      float[][] grad = ex.backward(kern, 0f);
      assertClose(kern.name() + " dq", dq, grad[0], 1e-4);
      assertClose(kern.name() + " dk", dk, grad[1], 1e-4);
      assertClose(kern.name() + " dv", dv, grad[2], 1e-4);
    }
  }
}
