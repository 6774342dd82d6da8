package io.hiformer.training;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.hiformer.kernels.cuda.FusedOptimizer;
import io.hiformer.model.Batch;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.PackedParameters;
import io.hiformer.model.Parameters;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * optim.cu, compiled for the CPU, against {@link Adam} and the trainer's moving average: the same
 * gradients through both, the updated weights, moments and average within 1e-5.
 */
class FusedOptimizerEmulationTest {
  private static final ModelConfig CONFIG = SyntheticCtr.config();

  @BeforeAll
  static void needsCompiler() {
    assumeTrue(EmulatedTrainingDevice.available(), "g++ is not on the PATH: the kernel emulator cannot be built");
  }

  @Test
  void matchesAdamWithLazyDecayL2WeightDecayAndTheMovingAverage() {
    Adam.Settings settings = new Adam.Settings(0.9, 0.999, 1e-8, 0.01, 0.5, 1e-3);
    check(settings, 0.9, false);
  }

  @Test
  void matchesPlainAdamWithThreadsInReverse() {
    check(Adam.Settings.defaults(), 0, true);
  }

  /**
   * Eight steps of batches of 6: the same user twice in a batch and twice in one bag (a row touched
   * several times in one step), user 7 in steps 1 and 8 only (a row untouched for six steps that owes
   * its decay), rising learning rates (warm-up), then settle.
   */
  private static void check(Adam.Settings settings, double ema, boolean reverse) {
    SplittableRandom rnd = new SplittableRandom(3);
    Parameters cpu = Parameters.initialize(CONFIG, 17);
    Parameters average = cpu.copy();
    Adam adam = new Adam(cpu, settings);
    PackedParameters packed = new PackedParameters(CONFIG);
    EmulatedTrainingDevice dev = new EmulatedTrainingDevice(Long.MAX_VALUE, reverse);
    FusedOptimizer.Settings fs = new FusedOptimizer.Settings(settings.beta1(), settings.beta2(), settings.eps(),
        settings.weightDecay(), settings.embeddingWeightDecay(), settings.embeddingL2(), ema);
    int nemb = CONFIG.embeddedFields().size();
    int d = CONFIG.tokenDim();
    try (FusedOptimizer opt = new FusedOptimizer(dev, packed.layout(), fs, 8)) {
      float[] w = packed.newBuffer();
      float[] m = packed.newBuffer();
      float[] v = packed.newBuffer();
      float[] a = ema > 0 ? packed.newBuffer() : null;
      packed.pack(cpu, w);
      if (a != null) {
        packed.pack(average, a);
      }
      opt.upload(w, m, v, a, 0, 1);
      TouchedRows touched = new TouchedRows(CONFIG);
      for (int step = 1; step <= 8; step++) {
        Batch batch = new Batch(CONFIG, 8);
        for (int b = 0; b < 6; b++) {
          int user = step == 1 || step == 8 ? (b < 2 ? 7 : 20 + b) : 30 + b % 3 + step;
          int[] bag = b == 0 ? new int[] {3, 3, 5} : b == 1 ? new int[0] : new int[] {1 + rnd.nextInt(8)};
          batch.add(new int[] {user, 1 + rnd.nextInt(6), 1 + rnd.nextInt(8), 1 + rnd.nextInt(4)},
              new int[][] {bag}, new float[] {(float) rnd.nextGaussian()}, new float[] {1}, null);
        }
        Parameters grads = Parameters.zeros(CONFIG);
        for (Parameters.Tensor t : grads.tensors()) {
          if (!io.hiformer.model.Parameters.isEmbedding(t.name())) {
            for (int i = 0; i < t.size(); i++) {
              t.data()[i] = (float) (0.1 * rnd.nextGaussian());
            }
          }
        }
        float[] dEmb = new float[6 * nemb * d];
        for (int i = 0; i < dEmb.length; i++) {
          dEmb[i] = (float) (0.1 * rnd.nextGaussian());
        }
        scatter(batch, dEmb, grads);
        double lr = 0.01 * step / 8;

        touched.collect(batch);
        adam.step(grads, touched, lr);
        if (ema > 0) {
          average(average, cpu, adam.steps(), ema);
        }

        float[] g = packed.newBuffer();
        packed.packDense(grads, g);
        dev.upload(opt.denseGradients(), g, g.length);
        dev.upload(opt.embeddingGradients(), dEmb, dEmb.length);
        assertThat(opt.gradientsFinite(6)).isTrue();
        opt.step(6, batch.categoricalIds(), batch.bagOffsetArray(), batch.bagIdArray(), lr);
      }
      adam.settle();
      opt.download(w, m, v, a);
      Parameters got = Parameters.zeros(CONFIG);
      packed.unpack(w, got);
      assertClose(got, cpu, "weights");
      packed.unpack(m, got);
      assertClose(got, adam.firstMoments(), "first moments");
      packed.unpack(v, got);
      assertClose(got, adam.secondMoments(), "second moments");
      if (a != null) {
        packed.unpack(a, got);
        assertClose(got, average, "moving average");
      }
      assertThat(opt.steps()).isEqualTo(8);
      assertThat(opt.decayProduct()).isEqualTo(adam.decayProduct());
      // a non-finite gradient is seen
      float[] bad = new float[opt.layout().denseFloats()];
      bad[bad.length / 2] = Float.NaN;
      dev.upload(opt.denseGradients(), bad, bad.length);
      assertThat(opt.gradientsFinite(6)).isFalse();
    }
  }

  /** Hiformer's embedBackward given the pooled vectors' gradients: a categorical row gets its field's, a bag's ids 1/n each. */
  static void scatter(Batch batch, float[] dEmb, Parameters grads) {
    var embedded = CONFIG.embeddedFields();
    int d = CONFIG.tokenDim();
    int cat = 0;
    int bag = 0;
    for (int e = 0; e < embedded.size(); e++) {
      float[] table = grads.get("emb." + embedded.get(e).name());
      boolean isBag = embedded.get(e).kind() == ModelConfig.FieldKind.BAG;
      for (int b = 0; b < batch.size(); b++) {
        int src = (b * embedded.size() + e) * d;
        if (!isBag) {
          int row = batch.categorical(b, cat);
          for (int j = 0; j < d; j++) {
            table[row * d + j] += dEmb[src + j];
          }
        } else {
          int start = batch.bagStart(b, bag);
          int end = batch.bagEnd(b, bag);
          for (int p = start; p < end; p++) {
            int row = batch.bagId(p);
            for (int j = 0; j < d; j++) {
              table[row * d + j] += 1f / (end - start) * dEmb[src + j];
            }
          }
        }
      }
      if (isBag) {
        bag++;
      } else {
        cat++;
      }
    }
  }

  /** Trainer.updateAverage. */
  private static void average(Parameters avg, Parameters w, long t, double ema) {
    float decay = (float) Math.min(ema, (1.0 + t) / (10.0 + t));
    for (Parameters.Tensor a : avg.tensors()) {
      float[] x = a.data();
      float[] y = w.get(a.name());
      for (int i = 0; i < x.length; i++) {
        x[i] += (1 - decay) * (y[i] - x[i]);
      }
    }
  }

  static void assertClose(Parameters got, Parameters want, String what) {
    for (Parameters.Tensor t : want.tensors()) {
      float[] g = got.get(t.name());
      double max = 0;
      for (int i = 0; i < t.size(); i++) {
        max = Math.max(max, Math.abs((double) g[i] - t.data()[i]));
      }
      assertThat(max).as("%s %s", what, t.name()).isLessThanOrEqualTo(1e-5);
    }
  }
}
