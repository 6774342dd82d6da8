package io.hiformer.kernels.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.function.ToIntFunction;
import org.junit.jupiter.api.Test;

/** The host side of the kernel's layout, everywhere: padding, fragment order, the variant choice. */
class FusedLayoutTest {
  /** ref-serving's shape: d 32, 4 heads, 24 fields, 8 dense values in 4 tokens, 2 tasks, 3 layers. */
  private static final FusedShape REF = new FusedShape(32, 4, 2, new int[] {30, 30, 2}, 64, 128, 128,
      new int[] {64, 32}, range(24), filled(24, 1000), 24, 0, 8, 4);

  @Test
  void refServingPadsToWidth32AndPicksAKernelPerBatchSize() {
    FusedLayout layout = new FusedLayout(REF, Precision.FP32);
    assertThat(layout.width()).isEqualTo(32);
    assertThat(layout.variants()).extracting(FusedLayout.Variant::toString)
        .containsExactly("32x1/b1 fp32", "16x1/b1 fp32", "16x2/b1 fp32", "16x4/b1 fp32");
    assertThat(layout.choose(256, 132).toString()).isEqualTo("16x4/b1 fp32");
    assertThat(layout.choose(1024, 132).toString()).isEqualTo("16x2/b1 fp32");
    assertThat(layout.choose(2048, 132).toString()).isEqualTo("16x1/b1 fp32");
    assertThat(layout.choose(4096, 132).toString()).isEqualTo("32x1/b1 fp32");
    assertThat(layout.choose(16384, 132).toString()).isEqualTo("32x1/b1 fp32");
  }

  @Test
  void clustersAreChosenOnlyWhereTheyAllRunAtOnce() {
    FusedLayout layout = new FusedLayout(REF, Precision.FP32);
    // an H200 runs 66 clusters of 2 and 30 of 4 (cuOccupancyMaxActiveClusters): 31 tiles in 4-block
    // clusters would take a second wave, so they get 2-block ones
    ToIntFunction<FusedLayout.Variant> h200 = v -> v.cluster() == 2 ? 66 : 30;
    assertThat(layout.choose(480, 132, h200).toString()).isEqualTo("16x4/b1 fp32");
    assertThat(layout.choose(481, 132, h200).toString()).isEqualTo("16x2/b1 fp32");
    assertThat(layout.choose(512, 132, h200).toString()).isEqualTo("16x2/b1 fp32");
    assertThat(layout.choose(1056, 132, h200).toString()).isEqualTo("16x2/b1 fp32");
    assertThat(layout.choose(1057, 132, h200).toString()).isEqualTo("16x1/b1 fp32");
    // without the driver's count: every SM for pairs, a tenth less for larger clusters
    assertThat(FusedLayout.estimatedClustersAtOnce(2, 132)).isEqualTo(66);
    assertThat(FusedLayout.estimatedClustersAtOnce(4, 132)).isEqualTo(29);
    assertThat(layout.choose(512, 132).toString()).isEqualTo("16x2/b1 fp32");
  }

  @Test
  void fragmentsHoldEachLanesRowsOfItsColumnFp32AsIsTf32Rounded() {
    int k = 32;
    int n = 16;
    float[] p = new float[k * n];
    for (int i = 0; i < p.length; i++) {
      p[i] = (float) Math.sin(i * 0.37) * 3;
    }
    float[] out = new float[k * n];
    new FusedLayout(REF, Precision.FP32).fragments(p, k, n, false, out, 0);
    // n-tile 1, k-block 1, lane 13 (g 3, t 1): rows 16 + 4 + c of column 8 + 3, as they are
    int base = ((1 * 2 + 1) * 32 + 13) * 4;
    for (int c = 0; c < 4; c++) {
      assertThat(out[base + c]).isEqualTo(p[(16 + 4 + c) * n + 11]);
    }
    FusedLayout tf32 = new FusedLayout(REF, Precision.TF32);
    tf32.fragments(p, k, n, true, out, 0);
    // chained: lane t holds rows 16kb + 8(c / 2) + 2t + c % 2, rounded to tf32
    for (int c = 0; c < 4; c++) {
      float v = p[(16 + 8 * (c >> 1) + 2 + (c & 1)) * n + 11];
      assertThat(out[base + c]).isEqualTo(FusedLayout.tf32(v));
      assertThat(Float.floatToRawIntBits(out[base + c]) & 0x1fff).as("tf32").isZero();
      assertThat((double) out[base + c]).isCloseTo(v, org.assertj.core.data.Offset.offset(1e-3 * Math.abs(v)));
    }
  }

  @Test
  void towerLayersArePackedAsFragmentsPaddedWithZerosTo16() {
    // d 20 pads to a width of 32; tower 20 -> 24 -> 1 is packed as 32 x 32, then 32 x 16
    FusedShape shape = new FusedShape(20, 4, 2, new int[] {3}, 16, 16, 32, new int[] {24}, range(3), filled(3, 5), 3,
        0, 0, 0);
    FusedLayout layout = new FusedLayout(shape, Precision.FP32);
    assertThat(layout.width()).isEqualTo(32);
    float[] blob = new float[layout.size()];
    float[] w0 = new float[20 * 24];
    for (int i = 0; i < w0.length; i++) {
      w0[i] = 1 + i;
    }
    float[] b0 = new float[24];
    java.util.Arrays.fill(b0, -1);
    layout.packTower(1, 0, w0, b0, blob);
    long[] desc = layout.descriptor();
    int slot = (int) desc[FusedLayout.D_TOWER_BASE] + 2 + 1 + 2 * (1 * 2);  // task 1, layer 0 (depth 2)
    int w = (int) desc[slot];
    for (int row = 0; row < 32; row++) {
      for (int col = 0; col < 32; col++) {
        // plain fragment order: n-tile col / 8, k-block row / 16, lane (col % 8, row % 16 / 4), element row % 4
        int at = w + (((col / 8) * 2 + row / 16) * 32 + (col % 8) * 4 + (row % 16) / 4) * 4 + row % 4;
        assertThat(blob[at]).as("row %d col %d", row, col).isEqualTo(row < 20 && col < 24 ? w0[row * 24 + col] : 0f);
      }
    }
    int bias = (int) desc[slot + 1];
    assertThat(java.util.Arrays.copyOfRange(blob, bias, bias + 32)).containsExactly(
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        0, 0, 0, 0, 0, 0, 0, 0);
  }

  @Test
  void shapesTheKernelCannotRunAreNamed() {
    FusedShape tooMany = new FusedShape(32, 4, 2, new int[] {40}, 64, 128, 128, new int[] {}, range(38),
        filled(38, 10), 38, 0, 0, 0);
    assertThat(FusedLayout.unsupported(tooMany)).contains("40 tokens").contains("at most 32");
    FusedShape tooWide = new FusedShape(96, 4, 1, new int[] {3}, 4, 4, 96, new int[] {}, range(2), filled(2, 10),
        2, 0, 0, 0);
    assertThat(FusedLayout.unsupported(tooWide)).contains("at most 64");
    assertThat(FusedLayout.unsupported(REF)).isNull();
  }

  private static int[] range(int n) {
    int[] a = new int[n];
    for (int i = 0; i < n; i++) {
      a[i] = i;
    }
    return a;
  }

  private static int[] filled(int n, int v) {
    int[] a = new int[n];
    java.util.Arrays.fill(a, v);
    return a;
  }
}
