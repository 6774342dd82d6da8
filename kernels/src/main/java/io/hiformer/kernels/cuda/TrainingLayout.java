package io.hiformer.kernels.cuda;

import java.util.ArrayList;
import java.util.List;

/**
 * The host side of the training kernels (train.cuh): how many floats one example's saved
 * activations and intermediate gradients take on the device, where the states a golden check reads
 * lie among them, and the table of parameter segments {@code hf_train_grads} sums (one per tensor
 * or per-row slice: kind, layer, index, packed offset, rows, columns). The walk over the layers is
 * the kernel's {@code tr_layout}, step for step (the kernel traps if its sizes exceed these).
 */
public final class TrainingLayout {
  // segment kinds, as in train.cuh
  static final int G_LN1G = 0, G_LN1B = 1, G_WQ = 2, G_UCAT = 3, G_VK = 4, G_VV = 5, G_WO = 6, G_LN2G = 7,
      G_LN2B = 8, G_W1 = 9, G_B1 = 10, G_W2 = 11, G_B2 = 12, G_DENSE_W = 13, G_DENSE_B = 14, G_TASK = 15,
      G_FINAL_G = 16, G_FINAL_B = 17, G_TOWER_W = 18, G_TOWER_B = 19, G_LOSS = 20, SEG_INTS = 6;

  private final FusedLayout layout;
  private final int activationFloats;
  private final int gradientFloats;
  private final int[] layerOut;
  private final int[] segments;
  private final int maxSegment;

  public TrainingLayout(FusedLayout layout) {
    this.layout = layout;
    FusedShape s = layout.shape();
    long[] desc = layout.descriptor();
    int w = layout.w;
    int l = layout.tokens;
    int lw = l * w;
    int np = layout.rkp + layout.rvp;
    int h = layout.heads;
    int fp = layout.fp;
    int t = layout.tasks;
    int[] rows = s.rows();
    layerOut = new int[rows.length];
    long a = lw;
    long g = lw;
    for (int k = 0; k < rows.length; k++) {
      int r = rows[k];
      long rw = (long) r * w;
      a += 3L * lw + 2L * l + np + 4 * rw + (long) h * r * l + 2L * r + 2L * r * fp;
      layerOut[k] = Math.toIntExact(a);
      a += rw;
      g += 5 * rw + (long) r * fp + (long) h * r * l + 3L * lw + np;
    }
    int twPer = 0;
    for (int k = 0; k + 1 < layout.depth; k++) {
      twPer += towerOut(k);
    }
    a += (long) t * w + 2L * t + (long) t * twPer + 2L * t;
    g += t + (long) t * w + (long) t * (twPer + towerOut(layout.depth - 1));
    activationFloats = Math.toIntExact(a);
    gradientFloats = Math.toIntExact(g);

    List<int[]> segs = new ArrayList<>();
    int base = FusedLayout.D_HEADER;
    for (int k = 0; k < rows.length; k++) {
      int lb = base + FusedLayout.L_STRIDE * k;
      int r = rows[k];
      segs.add(seg(G_LN1G, k, 0, desc[lb + FusedLayout.L_LN1G], 1, w));
      segs.add(seg(G_LN1B, k, 0, desc[lb + FusedLayout.L_LN1B], 1, w));
      segs.add(seg(G_UCAT, k, 0, desc[lb + FusedLayout.L_UCAT], lw, np));
      for (int hh = 0; hh < h; hh++) {
        segs.add(seg(G_VK, k, hh, desc[lb + FusedLayout.L_VK] + (long) hh * layout.rkp * l * layout.dhp, layout.rkp,
            l * layout.dhp));
        segs.add(seg(G_VV, k, hh, desc[lb + FusedLayout.L_VV] + (long) hh * layout.rvp * l * layout.dhp, layout.rvp,
            l * layout.dhp));
      }
      for (int i = 0; i < r; i++) {
        segs.add(seg(G_WQ, k, i, desc[lb + FusedLayout.L_WQ] + (long) i * w * w, w, w));
        segs.add(seg(G_WO, k, i, desc[lb + FusedLayout.L_WO] + (long) i * w * w, w, w));
        segs.add(seg(G_W1, k, i, desc[lb + FusedLayout.L_W1] + (long) i * w * fp, w, fp));
        segs.add(seg(G_B1, k, i, desc[lb + FusedLayout.L_B1] + (long) i * fp, 1, fp));
        segs.add(seg(G_W2, k, i, desc[lb + FusedLayout.L_W2] + (long) i * fp * w, fp, w));
        segs.add(seg(G_B2, k, i, desc[lb + FusedLayout.L_B2] + (long) i * w, 1, w));
      }
      segs.add(seg(G_LN2G, k, 0, desc[lb + FusedLayout.L_LN2G], 1, w));
      segs.add(seg(G_LN2B, k, 0, desc[lb + FusedLayout.L_LN2B], 1, w));
    }
    if (s.denseTokens() > 0) {
      segs.add(seg(G_DENSE_W, 0, 0, desc[FusedLayout.D_DENSE_W], s.numDense(), s.denseTokens() * w));
      segs.add(seg(G_DENSE_B, 0, 0, desc[FusedLayout.D_DENSE_B], 1, s.denseTokens() * w));
    }
    segs.add(seg(G_TASK, 0, 0, desc[FusedLayout.D_TASK], 1, t * w));
    segs.add(seg(G_FINAL_G, 0, 0, desc[FusedLayout.D_FINAL_G], 1, w));
    segs.add(seg(G_FINAL_B, 0, 0, desc[FusedLayout.D_FINAL_B], 1, w));
    int towerBase = (int) desc[FusedLayout.D_TOWER_BASE];
    for (int j = 0; j < t; j++) {
      for (int k = 0; k < layout.depth; k++) {
        int slot = towerBase + layout.depth + 1 + 2 * (j * layout.depth + k);
        int in = k == 0 ? w : towerOut(k - 1);
        segs.add(seg(G_TOWER_W, 0, j * layout.depth + k, desc[slot], in, towerOut(k)));
        segs.add(seg(G_TOWER_B, 0, j * layout.depth + k, desc[slot + 1], 1, towerOut(k)));
      }
    }
    for (int j = 0; j < t; j++) {
      segs.add(seg(G_LOSS, 0, j, 0, 1, 1));
    }
    segments = new int[segs.size() * SEG_INTS];
    int most = 0;
    for (int i = 0; i < segs.size(); i++) {
      System.arraycopy(segs.get(i), 0, segments, i * SEG_INTS, SEG_INTS);
      most = Math.max(most, segs.get(i)[4] * segs.get(i)[5]);
    }
    maxSegment = most;
  }

  private int towerOut(int k) {
    int[] hidden = layout.shape().towerHidden();
    int width = k < hidden.length ? hidden[k] : 1;
    return (width + 15) / 16 * 16;
  }

  private static int[] seg(int kind, int layer, int index, long offset, int rows, int cols) {
    return new int[] {kind, layer, index, Math.toIntExact(offset), rows, cols};
  }

  public FusedLayout layout() {
    return layout;
  }

  /** Floats of saved activations one example takes on the device. */
  public int activationFloats() {
    return activationFloats;
  }

  /** Floats of intermediate gradients one example takes on the device. */
  public int gradientFloats() {
    return gradientFloats;
  }

  /** Where an example's input tokens {@code [L, W]} start among its saved activations. */
  public int tokens() {
    return 0;
  }

  /** Where layer {@code l}'s output {@code [R_l, W]} starts among an example's saved activations. */
  public int layerOutput(int l) {
    return layerOut[l];
  }

  /** The segment table {@code hf_train_grads} reads: {@link #segmentCount()} rows of 6 ints. */
  public int[] segments() {
    return segments.clone();
  }

  public int segmentCount() {
    return segments.length / SEG_INTS;
  }

  /** Blocks of 256 threads a segment gets: enough for the largest one's elements, at most 16. */
  public int blocksPerSegment() {
    return Math.max(1, Math.min(16, (maxSegment + 255) / 256));
  }
}
