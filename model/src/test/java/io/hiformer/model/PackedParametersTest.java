package io.hiformer.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Pack and unpack are inverse and pack as the serving kernel's packing does, padding zero. */
class PackedParametersTest {

  @Test
  void unpackInvertsPackWhichIsTheServingPacking() {
    SplittableRandom rnd = new SplittableRandom(4);
    for (ModelConfig c : new ModelConfig[] {TestModels.randomConfig(rnd, 2, 2, true, true, true),
        TestModels.randomConfig(rnd, 3, 3, false, true, false)}) {
      Parameters p = TestModels.randomParameters(c, rnd);
      PackedParameters packed = new PackedParameters(c);
      float[] blob = packed.newBuffer();
      packed.pack(p, blob);
      assertThat(java.util.Arrays.equals(blob, CudaScorer.pack(p, packed.layout()))).as("same as the serving packing")
          .isTrue();
      Parameters back = Parameters.zeros(c);
      packed.unpack(blob, back);
      for (Parameters.Tensor t : p.tensors()) {
        assertThat(java.util.Arrays.equals(back.get(t.name()), t.data())).as(t.name()).isTrue();
      }
      float[] dense = packed.newBuffer();
      packed.packDense(p, dense);
      for (int i = packed.layout().denseFloats(); i < dense.length; i++) {
        assertThat(dense[i]).as("the tables' part of a dense-only packing").isZero();
      }
    }
  }

  @Test
  void variantsTheKernelsDoNotRunAreRefused() {
    ModelConfig hetero = TestModels.randomConfig(new SplittableRandom(1), 1, 1, false, false, true)
        .withVariant(ModelConfig.Variant.HETERO);
    assertThatThrownBy(() -> new PackedParameters(hetero)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("hetero");
  }
}
