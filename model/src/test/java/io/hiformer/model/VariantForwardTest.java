package io.hiformer.model;

import static org.assertj.core.api.Assertions.assertThat;

import io.hiformer.kernels.CpuKernels;
import io.hiformer.model.ModelConfig.Variant;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.assertj.core.data.Offset;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The forward pass of every variant: equal to a plain float64 transcription of the layer math,
 * unchanged by pruning, and (vanilla) equal to a hetero model whose per-row weights are all tied.
 */
class VariantForwardTest {

  static Stream<Arguments> cases() {
    Stream.Builder<Arguments> s = Stream.builder();
    for (Variant v : Variant.values()) {
      for (int rep = 1; rep <= 5; rep++) {
        s.add(Arguments.of(v, rep));
      }
    }
    return s.build();
  }

  @ParameterizedTest(name = "{0} #{1}")
  @MethodSource("cases")
  void matchesFloat64Reference(Variant variant, int rep) {
    SplittableRandom rnd = new SplittableRandom(500 + rep);
    ModelConfig c = TestModels.randomConfig(rnd, 1 + rep % 3, 1 + rnd.nextInt(3), rep % 2 == 0,
        rnd.nextBoolean(), rnd.nextBoolean()).withVariant(variant);
    Parameters p = TestModels.randomParameters(c, rnd);
    Batch batch = TestModels.randomBatch(c, 4, rnd);
    for (CpuKernels k : new CpuKernels[] {CpuKernels.scalar(), CpuKernels.best()}) {
      Hiformer model = new Hiformer(p, k);
      Activations act = new Activations(c, batch.size(), false);
      model.forward(batch, 0, batch.size(), act);
      int l = c.numTokens();
      int d = c.tokenDim();
      for (int b = 0; b < batch.size(); b++) {
        double[][] x = new double[l][d];
        for (int i = 0; i < l; i++) {
          for (int j = 0; j < d; j++) {
            x[i][j] = act.tokens()[(b * l + i) * d + j];
          }
        }
        for (int layer = 0; layer < c.layers(); layer++) {
          x = Reference.layer(c, p, layer, x);
          int r = c.rows(layer);
          for (int i = 0; i < r; i++) {
            for (int j = 0; j < d; j++) {
              assertThat(act.layerOutput(layer)[(b * r + i) * d + j])
                  .as("%s %s layer %d example %d row %d col %d", variant, k.name(), layer, b, i, j)
                  .isCloseTo((float) x[i][j], Offset.offset(2e-4f * (1 + (float) Math.abs(x[i][j]))));
            }
          }
        }
        double[] logits = Reference.heads(c, p, x);
        for (int j = 0; j < c.numTasks(); j++) {
          assertThat(act.logits()[b * c.numTasks() + j]).as("%s logit %d of example %d", variant, j, b)
              .isCloseTo((float) logits[j], Offset.offset(2e-4f * (1 + (float) Math.abs(logits[j]))));
        }
      }
    }
  }

  @ParameterizedTest(name = "{0} #{1}")
  @MethodSource("cases")
  void prunedModelEqualsUnprunedOneOnTaskRows(Variant variant, int rep) {
    SplittableRandom rnd = new SplittableRandom(rep);
    ModelConfig pruned = TestModels.randomConfig(rnd, 1 + rep % 3, 1 + rnd.nextInt(3),
        true, rnd.nextBoolean(), rnd.nextBoolean()).withVariant(variant);
    ModelConfig unpruned = new ModelConfig(pruned.name(), pruned.tokenDim(), pruned.heads(), pruned.layers(),
        pruned.tasks(), pruned.rankK(), pruned.rankV(), pruned.ffnMult(), pruned.towerHidden(),
        pruned.denseTokens(), false, pruned.fields(), variant);
    Parameters full = TestModels.randomParameters(unpruned, rnd);
    Parameters cut = Parameters.zeros(pruned);
    int skipRows = pruned.numTokens() - pruned.numTasks();
    for (Parameters.Tensor t : cut.tensors()) {
      float[] src = full.get(t.name());
      float[] dst = t.data();
      assertThat(full.tensor(t.name()).shape().length).isEqualTo(t.shape().length);
      // per-row tensors of the last layer keep only the task rows: the trailing rows of the full one
      System.arraycopy(src, src.length - dst.length, dst, 0, dst.length);
      if (src.length != dst.length) {
        assertThat(variant).as("%s is per row", t.name()).isNotEqualTo(Variant.VANILLA);
        assertThat(t.name()).startsWith("layers." + (pruned.layers() - 1) + ".").doesNotContain(".wk").doesNotContain(".wv");
        assertThat(src.length - dst.length).isEqualTo(skipRows * (dst.length / pruned.numTasks()));
      }
    }
    Batch batch = TestModels.randomBatch(pruned, 7, rnd);
    float[] a = logits(new Hiformer(full, CpuKernels.best()), batch);
    float[] b = logits(new Hiformer(cut, CpuKernels.best()), batch);
    assertThat(b).containsExactly(a, Offset.offset(1e-5f));
    float largest = 0;
    for (float x : a) {
      largest = Math.max(largest, Math.abs(x));
    }
    assertThat(largest).as("largest logit").isGreaterThan(1e-3f);
  }

  @ParameterizedTest(name = "#{0}")
  @ValueSource(ints = {1, 2, 3, 4, 5})
  void vanillaEqualsHeteroWithTiedRows(int rep) {
    SplittableRandom rnd = new SplittableRandom(900 + rep);
    ModelConfig vc = TestModels.randomConfig(rnd, 1 + rep % 3, 1 + rnd.nextInt(3), rep % 2 == 1,
        rnd.nextBoolean(), rnd.nextBoolean()).withVariant(Variant.VANILLA);
    ModelConfig hc = vc.withVariant(Variant.HETERO);
    Parameters vanilla = TestModels.randomParameters(vc, rnd);
    Parameters hetero = Parameters.zeros(hc);
    for (Parameters.Tensor t : hetero.tensors()) {
      float[] src = vanilla.get(t.name());
      float[] dst = t.data();
      assertThat(dst.length % src.length).isZero();
      for (int o = 0; o < dst.length; o += src.length) {
        System.arraycopy(src, 0, dst, o, src.length);   // every row gets the shared weights
      }
    }
    Batch batch = TestModels.randomBatch(vc, 5, rnd);
    for (CpuKernels k : new CpuKernels[] {CpuKernels.scalar(), CpuKernels.best()}) {
      assertThat(logits(new Hiformer(vanilla, k), batch))
          .containsExactly(logits(new Hiformer(hetero, k), batch), Offset.offset(1e-5f));
    }
  }

  private static float[] logits(Hiformer model, Batch batch) {
    Activations act = new Activations(model.config(), batch.size(), false);
    model.forward(batch, 0, batch.size(), act);
    return Arrays.copyOf(act.logits(), batch.size() * model.config().numTasks());
  }

  /** docs/model.md, Layer and Heads and loss, one example at a time, in float64, loops only. */
  static final class Reference {
    private Reference() {}

    static double[][] layer(ModelConfig c, Parameters p, int layer, double[][] x) {
      String n = "layers." + layer + ".";
      int l = c.numTokens();
      int d = c.tokenDim();
      int r = c.rows(layer);
      int s = l - r;
      int f = c.ffnDim();
      boolean perRow = c.variant() != Variant.VANILLA;
      double[][] z = new double[l][];
      for (int i = 0; i < l; i++) {
        z[i] = layerNorm(x[i], p.get(n + "ln1.weight"), p.get(n + "ln1.bias"));
      }
      double[][] k = new double[l][];
      double[][] v = new double[l][];
      switch (c.variant()) {
        case HIFORMER -> {
          double[] flat = new double[l * d];
          for (int i = 0; i < l; i++) {
            System.arraycopy(z[i], 0, flat, i * d, d);
          }
          double[] kf = vecMat(vecMat(flat, p.get(n + "attn.uk"), 0, l * d, c.rankK()), p.get(n + "attn.vk"), 0,
              c.rankK(), l * d);
          double[] vf = vecMat(vecMat(flat, p.get(n + "attn.uv"), 0, l * d, c.rankV()), p.get(n + "attn.vv"), 0,
              c.rankV(), l * d);
          for (int i = 0; i < l; i++) {
            k[i] = Arrays.copyOfRange(kf, i * d, i * d + d);
            v[i] = Arrays.copyOfRange(vf, i * d, i * d + d);
          }
        }
        case HETERO -> {
          for (int i = 0; i < l; i++) {
            k[i] = vecMat(z[i], p.get(n + "attn.wk"), i * d * d, d, d);
            v[i] = vecMat(z[i], p.get(n + "attn.wv"), i * d * d, d, d);
          }
        }
        case VANILLA -> {
          for (int i = 0; i < l; i++) {
            k[i] = vecMat(z[i], p.get(n + "attn.wk"), 0, d, d);
            v[i] = vecMat(z[i], p.get(n + "attn.wv"), 0, d, d);
          }
        }
      }
      int heads = c.heads();
      int dh = c.headDim();
      double[][] out = new double[r][];
      for (int i = 0; i < r; i++) {
        int w = perRow ? i : 0;
        double[] q = vecMat(z[s + i], p.get(n + "attn.wq"), w * d * d, d, d);
        double[] o = new double[d];
        for (int h = 0; h < heads; h++) {
          double[] score = new double[l];
          double max = Double.NEGATIVE_INFINITY;
          for (int j = 0; j < l; j++) {
            for (int e = h * dh; e < h * dh + dh; e++) {
              score[j] += q[e] * k[j][e];
            }
            score[j] /= Math.sqrt(dh);
            max = Math.max(max, score[j]);
          }
          double sum = 0;
          for (int j = 0; j < l; j++) {
            score[j] = Math.exp(score[j] - max);
            sum += score[j];
          }
          for (int j = 0; j < l; j++) {
            for (int e = h * dh; e < h * dh + dh; e++) {
              o[e] += score[j] / sum * v[j][e];
            }
          }
        }
        double[] xp = add(x[s + i], vecMat(o, p.get(n + "attn.wo"), w * d * d, d, d));
        double[] hidden = add(vecMat(layerNorm(xp, p.get(n + "ln2.weight"), p.get(n + "ln2.bias")),
            p.get(n + "ffn.w1"), w * d * f, d, f), slice(p.get(n + "ffn.b1"), w * f, f));
        for (int e = 0; e < f; e++) {
          double u = hidden[e];
          hidden[e] = 0.5 * u * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (u + 0.044715 * u * u * u)));
        }
        out[i] = add(xp, add(vecMat(hidden, p.get(n + "ffn.w2"), w * f * d, f, d), slice(p.get(n + "ffn.b2"), w * d, d)));
      }
      return out;
    }

    static double[] heads(ModelConfig c, Parameters p, double[][] last) {
      int t = c.numTasks();
      double[] logits = new double[t];
      for (int j = 0; j < t; j++) {
        double[] h = layerNorm(last[last.length - t + j], p.get("final_ln.weight"), p.get("final_ln.bias"));
        int k = 0;
        for (int width : c.towerHidden()) {
          h = add(vecMat(h, p.get("towers." + j + "." + k + ".weight"), 0, h.length, width),
              slice(p.get("towers." + j + "." + k + ".bias"), 0, width));
          for (int e = 0; e < h.length; e++) {
            h[e] = Math.max(0, h[e]);
          }
          k++;
        }
        logits[j] = vecMat(h, p.get("towers." + j + "." + k + ".weight"), 0, h.length, 1)[0]
            + p.get("towers." + j + "." + k + ".bias")[0];
      }
      return logits;
    }

    private static double[] layerNorm(double[] x, float[] g, float[] b) {
      double mean = 0;
      for (double v : x) {
        mean += v;
      }
      mean /= x.length;
      double var = 0;
      for (double v : x) {
        var += (v - mean) * (v - mean);
      }
      var /= x.length;
      double[] y = new double[x.length];
      for (int i = 0; i < x.length; i++) {
        y[i] = (x[i] - mean) / Math.sqrt(var + 1e-5) * g[i] + b[i];
      }
      return y;
    }

    /** {@code x · W} for the {@code [in, out]} matrix at {@code w[off..]}. */
    private static double[] vecMat(double[] x, float[] w, int off, int in, int out) {
      double[] y = new double[out];
      for (int i = 0; i < in; i++) {
        for (int o = 0; o < out; o++) {
          y[o] += x[i] * w[off + i * out + o];
        }
      }
      return y;
    }

    private static double[] slice(float[] x, int off, int len) {
      double[] y = new double[len];
      for (int i = 0; i < len; i++) {
        y[i] = x[off + i];
      }
      return y;
    }

    private static double[] add(double[] a, double[] b) {
      double[] y = new double[a.length];
      for (int i = 0; i < a.length; i++) {
        y[i] = a[i] + b[i];
      }
      return y;
    }
  }
}
