package io.hiformer.model;

import io.hiformer.kernels.cuda.CudaDevice;
import io.hiformer.kernels.cuda.CudaUnavailableException;
import io.hiformer.kernels.cuda.FusedForward;
import io.hiformer.kernels.cuda.FusedLayout;
import io.hiformer.kernels.cuda.FusedShape;
import io.hiformer.kernels.cuda.Precision;

/**
 * The Hiformer forward on the GPU: the model's weights and embedding tables are packed for the
 * fused kernel and uploaded once, at construction; {@link #close()} frees them (a model swap
 * closes the old version's scorer). Each {@link #score} call validates the batch, copies its
 * inputs over and runs one kernel launch.
 */
public final class CudaScorer implements LogitScorer {
  private final ModelConfig config;
  private final FusedForward forward;

  /** Opens the shared device and uploads {@code params}; throws if there is no usable GPU. */
  public CudaScorer(Parameters params, Precision precision) throws CudaUnavailableException {
    String why = unsupported(params.config());
    if (why != null) {
      throw new CudaUnavailableException(why);
    }
    CudaDevice device = CudaDevice.shared();
    this.config = params.config();
    FusedLayout layout = new FusedLayout(shape(config), precision);
    this.forward = new FusedForward(device, layout, pack(params, layout));
  }

  /** Why the fused kernel cannot run models of {@code config}, or null if it can. */
  public static String unsupported(ModelConfig config) {
    if (config.variant() != ModelConfig.Variant.HIFORMER) {
      return "the CUDA kernel implements the composite low-rank (hiformer) attention, not the '"
          + config.variant().json() + "' variant";
    }
    return FusedLayout.unsupported(shape(config));
  }

  @Override
  public synchronized void score(Batch batch, float[] logits) {
    int n = batch.size();
    if (logits.length < n * config.numTasks()) {
      throw new IllegalArgumentException("logits needs " + n * config.numTasks() + " floats, has " + logits.length);
    }
    if (n == 0) {
      return;
    }
    batch.validate(0, n);
    forward.forward(n, batch.categorical, batch.bagOffsets, batch.bagIds, batch.dense, logits);
  }

  /** Copies {@code batch}'s inputs to the device, for benchmarks that launch the kernel themselves. */
  public synchronized void stage(Batch batch) {
    batch.validate(0, batch.size());
    forward.stage(batch.size(), batch.categorical, batch.bagOffsets, batch.bagIds, batch.dense);
  }

  /** The device side, for benchmarks and tests that pick kernel variants. */
  public FusedForward forward() {
    return forward;
  }

  @Override
  public String description() {
    return "cuda " + forward.device().name() + " " + forward.precision().name().toLowerCase(java.util.Locale.ROOT);
  }

  @Override
  public void close() {
    forward.close();
  }

  /** The kernel's view of a config. */
  static FusedShape shape(ModelConfig c) {
    int[] rows = new int[c.layers()];
    for (int l = 0; l < rows.length; l++) {
      rows[l] = c.rows(l);
    }
    int[] hidden = c.towerHidden().stream().mapToInt(Integer::intValue).toArray();
    int[] vocab = c.embeddedFields().stream().mapToInt(ModelConfig.Field::vocab).toArray();
    return new FusedShape(c.tokenDim(), c.heads(), c.numTasks(), rows, c.rankK(), c.rankV(), c.ffnDim(), hidden,
        c.embeddedSlots(), vocab, c.categoricalFields().size(), c.bagFields().size(), c.numDense(),
        c.effectiveDenseTokens());
  }

  /** Every parameter (docs/model.md, Parameters), packed where {@code layout} wants it. */
  static float[] pack(Parameters p, FusedLayout layout) {
    ModelConfig c = p.config();
    float[] blob = new float[layout.size()];
    for (int e = 0; e < c.embeddedFields().size(); e++) {
      layout.packEmbedding(e, p.embedding(e), blob);
    }
    if (c.effectiveDenseTokens() > 0) {
      layout.packDense(p.denseWeight(), p.denseBias(), blob);
    }
    layout.packTaskTokens(p.taskTokens(), blob);
    for (int l = 0; l < c.layers(); l++) {
      Parameters.LayerWeights w = p.layer(l);
      layout.packNorm1(l, w.ln1g, w.ln1b, blob);
      layout.packQueries(l, w.wq, blob);
      layout.packKeysValues(l, w.uk, w.vk, w.uv, w.vv, blob);
      layout.packOutput(l, w.wo, blob);
      layout.packNorm2(l, w.ln2g, w.ln2b, blob);
      layout.packFfn(l, w.w1, w.b1, w.w2, w.b2, blob);
    }
    layout.packFinalNorm(p.finalNormWeight(), p.finalNormBias(), blob);
    for (int j = 0; j < c.numTasks(); j++) {
      for (int k = 0; k <= c.towerHidden().size(); k++) {
        layout.packTower(j, k, p.towerWeight(j, k), p.towerBias(j, k), blob);
      }
    }
    return blob;
  }
}
