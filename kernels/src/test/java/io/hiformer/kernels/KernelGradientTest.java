package io.hiformer.kernels;

import static io.hiformer.kernels.TestArrays.assertClose;
import static io.hiformer.kernels.TestArrays.uniform;

import java.util.Random;
import java.util.function.ToDoubleFunction;
import org.junit.jupiter.api.Test;

/**
 * The backward kernels of the scalar reference against central finite differences of independent
 * double-precision forward functions. (The SIMD backward kernels are held to the scalar ones in
 * {@link CpuKernelsTest}.) Each check differentiates {@code loss = Σ w·f(x)} for random weights w.
 */
class KernelGradientTest {
  private static final CpuKernels SCALAR = CpuKernels.scalar();
  private static final double H = 1e-5;
  private static final double TOL = 1e-4;

  /** Central differences of {@code loss} at {@code x} (perturbed in place, then restored). */
  static double[] numericGradient(double[] x, ToDoubleFunction<double[]> loss) {
    double[] g = new double[x.length];
    for (int i = 0; i < x.length; i++) {
      double keep = x[i];
      x[i] = keep + H;
      double up = loss.applyAsDouble(x);
      x[i] = keep - H;
      double down = loss.applyAsDouble(x);
      x[i] = keep;
      g[i] = (up - down) / (2 * H);
    }
    return g;
  }

  static double[] toDouble(float[] x) {
    double[] d = new double[x.length];
    for (int i = 0; i < x.length; i++) {
      d[i] = x[i];
    }
    return d;
  }

  @Test
  void layerNormBackwardIsTheGradientOfLayerNorm() {
    Random rnd = new Random(21);
    int rows = 3;
    int n = 13;
    float[] x = uniform(rnd, rows * n);
    float[] gamma = uniform(rnd, n);
    float[] beta = uniform(rnd, n);
    float[] w = uniform(rnd, rows * n);
    float[] y = new float[rows * n];
    float[] mean = new float[rows];
    float[] rstd = new float[rows];
    SCALAR.layerNorm(rows, n, x, 0, n, gamma, 0, beta, 0, y, 0, n, mean, rstd, 0);
    float[] dx = new float[rows * n];
    float[] dgamma = new float[n];
    float[] dbeta = new float[n];
    SCALAR.layerNormBackward(rows, n, w, 0, n, x, 0, n, gamma, 0, mean, rstd, 0, dx, 0, n,
        dgamma, dbeta, 0);

    double[] xd = toDouble(x);
    double[] gd = toDouble(gamma);
    double[] bd = toDouble(beta);
    assertClose("dx", numericGradient(xd, v -> layerNormLoss(v, gd, bd, w, rows, n)), dx, TOL);
    assertClose("dgamma", numericGradient(gd, v -> layerNormLoss(xd, v, bd, w, rows, n)), dgamma, TOL);
    assertClose("dbeta", numericGradient(bd, v -> layerNormLoss(xd, gd, v, w, rows, n)), dbeta, TOL);
  }

  private static double layerNormLoss(double[] x, double[] gamma, double[] beta, float[] w, int rows, int n) {
    double loss = 0;
    for (int r = 0; r < rows; r++) {
      double mu = 0;
      for (int j = 0; j < n; j++) {
        mu += x[r * n + j] / n;
      }
      double var = 0;
      for (int j = 0; j < n; j++) {
        var += (x[r * n + j] - mu) * (x[r * n + j] - mu) / n;
      }
      double rs = 1 / Math.sqrt(var + CpuKernels.LAYER_NORM_EPS);
      for (int j = 0; j < n; j++) {
        loss += w[r * n + j] * ((x[r * n + j] - mu) * rs * gamma[j] + beta[j]);
      }
    }
    return loss;
  }

  @Test
  void geluBackwardIsTheGradientOfGelu() {
    Random rnd = new Random(22);
    int n = 40;
    float[] x = uniform(rnd, n);
    for (int i = 0; i < n; i++) {
      x[i] *= 4;
    }
    float[] w = uniform(rnd, n);
    float[] dx = new float[n];
    SCALAR.geluBackward(n, x, 0, w, 0, dx, 0);
    double c = Math.sqrt(2 / Math.PI);
    assertClose("dx", numericGradient(toDouble(x), v -> {
      double loss = 0;
      for (int i = 0; i < n; i++) {
        loss += w[i] * 0.5 * v[i] * (1 + Math.tanh(c * (v[i] + 0.044715 * v[i] * v[i] * v[i])));
      }
      return loss;
    }), dx, TOL);
  }

  @Test
  void reluBackwardIsTheGradientOfReluAwayFromTheKink() {
    Random rnd = new Random(23);
    int n = 40;
    float[] x = uniform(rnd, n);
    for (int i = 0; i < n; i++) {
      x[i] = x[i] < 0 ? x[i] - 0.01f : x[i] + 0.01f;
    }
    float[] y = x.clone();
    SCALAR.relu(n, y, 0);
    float[] dy = uniform(rnd, n);
    float[] w = dy.clone();
    SCALAR.reluBackward(n, y, 0, dy, 0);
    assertClose("dx", numericGradient(toDouble(x), v -> {
      double loss = 0;
      for (int i = 0; i < n; i++) {
        loss += w[i] * Math.max(v[i], 0);
      }
      return loss;
    }), dy, TOL);
  }

  @Test
  void softmaxBackwardIsTheGradientOfSoftmax() {
    Random rnd = new Random(24);
    int rows = 3;
    int n = 11;
    float[] x = uniform(rnd, rows * n);
    float[] p = x.clone();
    SCALAR.softmaxRows(rows, n, 1f, p, 0, n);
    float[] dp = uniform(rnd, rows * n);
    float[] w = dp.clone();
    SCALAR.softmaxBackwardRows(rows, n, p, 0, n, dp, 0, n);
    assertClose("dx", numericGradient(toDouble(x), v -> {
      double loss = 0;
      for (int r = 0; r < rows; r++) {
        double sum = 0;
        for (int j = 0; j < n; j++) {
          sum += Math.exp(v[r * n + j]);
        }
        for (int j = 0; j < n; j++) {
          loss += w[r * n + j] * Math.exp(v[r * n + j]) / sum;
        }
      }
      return loss;
    }), dp, TOL);
  }
}
