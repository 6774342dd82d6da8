package io.hiformer.model;

import io.hiformer.kernels.cuda.CudaDevice;
import io.hiformer.kernels.cuda.CudaUnavailableException;
import io.hiformer.kernels.cuda.FusedLayout;
import io.hiformer.kernels.cuda.FusedTraining;
import io.hiformer.kernels.cuda.Precision;
import io.hiformer.kernels.cuda.TrainingLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * The CUDA training kernels ({@link FusedTraining}) seen as the CPU model's pass: one forward, loss
 * and backward of a batch, with the states, logits, loss and every parameter's gradient in the
 * model's own shapes, so {@link GoldenCheck} compares them like the CPU's. The packed gradients are
 * unpacked here and the pooled-vector gradients {@code dEmb} scattered into table rows the way
 * {@link Hiformer} does (what the GPU optimiser does on the device).
 */
public final class CudaTraining {
  private CudaTraining() {}

  /** Why the training kernels cannot run models of {@code config}, or null if they can. */
  public static String unsupported(ModelConfig config) {
    return CudaScorer.unsupported(config);
  }

  /** The pass of {@code p} on {@code batch} on the GPU; throws if there is none (or the model does not fit). */
  public static GoldenCheck.Pass run(Parameters p, Batch batch) throws CudaUnavailableException {
    String why = unsupported(p.config());
    if (why != null) {
      throw new CudaUnavailableException(why);
    }
    FusedLayout layout = new FusedLayout(CudaScorer.shape(p.config()), Precision.FP32);
    int n = batch.size();
    batch.validate(0, n);
    try (FusedTraining t = new FusedTraining(CudaDevice.shared(), layout)) {
      FusedTraining.HostStep s = t.runOnHost(n, batch.categorical, batch.bagOffsets, batch.bagIds, batch.dense,
          batch.labels, batch.labelMask, CudaScorer.pack(p, layout));
      return pass(p, t.trainingLayout(), batch, s.logits(), s.loss(), s.dEmb(), s.grads(), s.activations());
    }
  }

  /** The kernels' outputs (see {@link FusedTraining.HostStep}) as a pass in the model's shapes. */
  static GoldenCheck.Pass pass(Parameters p, TrainingLayout tl, Batch batch, float[] logits, float[] loss,
      float[] dEmb, float[] packedGrads, float[] act) {
    ModelConfig c = p.config();
    FusedLayout layout = tl.layout();
    int n = batch.size();
    int d = c.tokenDim();
    int w = layout.width();
    int l = c.numTokens();
    int stride = tl.activationFloats();
    float[] tokens = rows(act, n, stride, tl.tokens(), l, d, w);
    float[][] layers = new float[c.layers()][];
    for (int k = 0; k < layers.length; k++) {
      layers[k] = rows(act, n, stride, tl.layerOutput(k), c.rows(k), d, w);
    }
    Parameters grads = Parameters.zeros(c);
    unpackDense(packedGrads, layout, grads);
    scatterEmbeddings(c, batch, dEmb, grads);
    double total = 0;
    for (float v : loss) {
      total += v;
    }
    return new GoldenCheck.Pass(tokens, layers, logits, total, grads);
  }

  private static float[] rows(float[] act, int n, int stride, int at, int rows, int d, int w) {
    float[] out = new float[n * rows * d];
    for (int b = 0; b < n; b++) {
      for (int i = 0; i < rows; i++) {
        System.arraycopy(act, b * stride + at + i * w, out, (b * rows + i) * d, d);
      }
    }
    return out;
  }

  /**
   * Copies every dense (non-embedding) parameter out of a buffer in {@code layout}'s packing. The
   * packing moves each element to one place of its own (padding aside), so it is found by packing
   * element numbers (exact in a float below 2^24, in as many rounds as that takes).
   */
  static void unpackDense(float[] blob, FusedLayout layout, Parameters into) {
    List<Parameters.Tensor> dense = new ArrayList<>();
    for (Parameters.Tensor t : into.tensors()) {
      if (!t.name().startsWith("emb.")) {
        dense.add(t);
      }
    }
    int next = 0;
    while (next < dense.size()) {
      Parameters ids = Parameters.zeros(into.config());
      List<Parameters.Tensor> round = new ArrayList<>();
      int id = 1;
      while (next < dense.size() && (round.isEmpty() || id + dense.get(next).size() < (1 << 24))) {
        Parameters.Tensor t = dense.get(next++);
        float[] v = ids.get(t.name());
        for (int i = 0; i < v.length; i++) {
          v[i] = id + i;
        }
        id += v.length;
        round.add(t);
      }
      int[] firstId = new int[round.size()];
      int f = 1;
      for (int r = 0; r < round.size(); r++) {
        firstId[r] = f;
        f += round.get(r).size();
      }
      float[] where = CudaScorer.pack(ids, layout);
      for (int k = 0; k < where.length; k++) {
        int e = (int) where[k];
        if (e == 0) {
          continue;
        }
        int r = 0;
        while (r + 1 < round.size() && firstId[r + 1] <= e) {
          r++;
        }
        round.get(r).data()[e - firstId[r]] = blob[k];
      }
    }
  }

  /** Adds {@code dEmb [n, nemb, d]} into the tables' rows: a categorical id's row, or each bag id's with 1/size. */
  static void scatterEmbeddings(ModelConfig c, Batch batch, float[] dEmb, Parameters grads) {
    List<ModelConfig.Field> embedded = c.embeddedFields();
    int nemb = embedded.size();
    int d = c.tokenDim();
    int ncat = c.categoricalFields().size();
    int nbag = c.bagFields().size();
    int cat = 0;
    int bag = 0;
    for (int e = 0; e < nemb; e++) {
      float[] table = grads.get("emb." + embedded.get(e).name());
      boolean isBag = embedded.get(e).kind() == ModelConfig.FieldKind.BAG;
      int slot = isBag ? bag++ : cat++;
      for (int b = 0; b < batch.size(); b++) {
        int src = (b * nemb + e) * d;
        if (!isBag) {
          int row = batch.categorical[b * ncat + slot] * d;
          for (int x = 0; x < d; x++) {
            table[row + x] += dEmb[src + x];
          }
        } else {
          int start = batch.bagOffsets[b * nbag + slot];
          int end = batch.bagOffsets[b * nbag + slot + 1];
          float scale = 1f / Math.max(1, end - start);
          for (int q = start; q < end; q++) {
            int row = batch.bagIds[q] * d;
            for (int x = 0; x < d; x++) {
              table[row + x] += scale * dEmb[src + x];
            }
          }
        }
      }
    }
  }
}
