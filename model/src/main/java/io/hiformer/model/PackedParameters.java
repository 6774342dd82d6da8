package io.hiformer.model;

import io.hiformer.kernels.cuda.FusedLayout;
import io.hiformer.kernels.cuda.FusedShape;
import io.hiformer.kernels.cuda.Precision;
import java.util.ArrayList;
import java.util.List;

/**
 * Parameters (or anything shaped like them: Adam's moments, gradients, the moving average) to and
 * from the fused kernel's weights buffer ({@link FusedLayout}, {@link Precision#FP32}), both ways:
 * the GPU trainer keeps its weights and optimiser state packed on the device and unpacks them for
 * checkpoints and evaluation. Packing is a permutation with zero padding, so every value has one
 * place; the places of the non-embedding values are found once, by packing their indices.
 */
public final class PackedParameters {
  private final ModelConfig config;
  private final FusedLayout layout;
  private final List<String> denseNames = new ArrayList<>();
  private final List<int[]> denseWhere = new ArrayList<>();  // per dense tensor: the packed offset of each value
  private final String[] tableNames;

  public PackedParameters(ModelConfig config) {
    String why = CudaScorer.unsupported(config);
    if (why != null) {
      throw new IllegalArgumentException("the CUDA kernels cannot run this model: " + why);
    }
    this.config = config;
    this.layout = new FusedLayout(CudaScorer.shape(config), Precision.FP32);
    List<ModelConfig.Field> embedded = config.embeddedFields();
    tableNames = new String[embedded.size()];
    for (int e = 0; e < tableNames.length; e++) {
      tableNames[e] = "emb." + embedded.get(e).name();
    }
    // each dense value's index i as two exact small floats (i >> 12) + 1 and i & 4095: padding packs as 0
    Parameters hi = Parameters.zeros(config);
    Parameters lo = Parameters.zeros(config);
    int index = 0;
    for (Parameters.Tensor t : hi.tensors()) {
      if (isTable(t.name())) {
        continue;
      }
      float[] h = t.data();
      float[] l = lo.get(t.name());
      for (int k = 0; k < h.length; k++, index++) {
        h[k] = (index >> 12) + 1;
        l[k] = index & 4095;
      }
      denseNames.add(t.name());
      denseWhere.add(new int[h.length]);
    }
    float[] ph = CudaScorer.pack(hi, layout);
    float[] pl = CudaScorer.pack(lo, layout);
    int[] starts = new int[denseNames.size() + 1];
    for (int k = 0; k < denseNames.size(); k++) {
      starts[k + 1] = starts[k] + denseWhere.get(k).length;
    }
    int found = 0;
    for (int at = 0; at < layout.denseFloats(); at++) {
      if (ph[at] == 0) {
        continue;
      }
      int i = (((int) ph[at] - 1) << 12) | (int) pl[at];
      int tensor = java.util.Arrays.binarySearch(starts, i);
      tensor = tensor >= 0 ? tensor : -tensor - 2;
      denseWhere.get(tensor)[i - starts[tensor]] = at;
      found++;
    }
    if (found != index) {
      throw new IllegalStateException("the packed layout holds " + found + " of " + index + " dense values");
    }
  }

  public FusedLayout layout() {
    return layout;
  }

  public ModelConfig config() {
    return config;
  }

  /** A zeroed buffer of the layout's size. */
  public float[] newBuffer() {
    return new float[layout.size()];
  }

  /** Packs every tensor of {@code p}, tables included, into {@code blob} (its padding left as it is). */
  public void pack(Parameters p, float[] blob) {
    packDense(p, blob);
    int d = config.tokenDim();
    int w = layout.width();
    for (int e = 0; e < tableNames.length; e++) {
      float[] table = p.get(tableNames[e]);
      int off = layout.embeddingOffset(e);
      for (int r = 0, rows = table.length / d; r < rows; r++) {
        System.arraycopy(table, r * d, blob, off + r * w, d);
      }
    }
  }

  /** Packs the non-embedding tensors of {@code p} only (gradients: the tables' part of {@code blob} untouched). */
  public void packDense(Parameters p, float[] blob) {
    for (int k = 0; k < denseNames.size(); k++) {
      float[] src = p.get(denseNames.get(k));
      int[] where = denseWhere.get(k);
      for (int i = 0; i < where.length; i++) {
        blob[where[i]] = src[i];
      }
    }
  }

  /** The inverse of {@link #pack}: every tensor of {@code p} from {@code blob}. */
  public void unpack(float[] blob, Parameters p) {
    for (int k = 0; k < denseNames.size(); k++) {
      float[] dst = p.get(denseNames.get(k));
      int[] where = denseWhere.get(k);
      for (int i = 0; i < where.length; i++) {
        dst[i] = blob[where[i]];
      }
    }
    int d = config.tokenDim();
    int w = layout.width();
    for (int e = 0; e < tableNames.length; e++) {
      float[] table = p.get(tableNames[e]);
      int off = layout.embeddingOffset(e);
      for (int r = 0, rows = table.length / d; r < rows; r++) {
        System.arraycopy(blob, off + r * w, table, r * d, d);
      }
    }
  }

  /** The kernel's view of this config, for code that launches kernels of its own. */
  public FusedShape shape() {
    return layout.shape();
  }

  private static boolean isTable(String name) {
    return name.startsWith("emb.");
  }
}
