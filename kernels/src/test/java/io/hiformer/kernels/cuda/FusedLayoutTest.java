package io.hiformer.kernels.cuda;

import static org.assertj.core.api.Assertions.assertThat;

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
