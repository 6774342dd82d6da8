package io.hiformer.kernels;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

/**
 * Which implementation {@link CpuKernels#best()} picks. The build runs this at the machine's widest
 * vectors, again at 256 and 128 bits ({@code -XX:MaxVectorSize}), where the last must fall back
 * to scalar, and once with {@code -Dhiformer.kernels=scalar}: see the surefire executions in the pom.
 */
class KernelSelectorTest {

  @Test
  void bestIsSimdAtThePreferredWidthUnlessNarrowOrForcedScalar() {
    int lanes = FloatVector.SPECIES_PREFERRED.length();
    if ("scalar".equals(System.getProperty("hiformer.kernels"))) {
      assertThat(CpuKernels.best()).isSameAs(CpuKernels.scalar());
      assertThat(CpuKernels.simd().name()).isEqualTo("simd-" + lanes * Float.SIZE);
    } else if (lanes >= 8) {
      assertThat(CpuKernels.best()).isInstanceOf(SimdKernels.class).isSameAs(CpuKernels.simd());
      assertThat(CpuKernels.best().name()).isEqualTo("simd-" + lanes * Float.SIZE);
    } else {
      assertThat(CpuKernels.best()).isSameAs(CpuKernels.scalar());
      assertThatThrownBy(SimdKernels::create).isInstanceOf(UnsupportedOperationException.class);
      // The documented exception, every time, not a class-initialisation error.
      for (int i = 0; i < 2; i++) {
        assertThatThrownBy(CpuKernels::simd).isInstanceOf(UnsupportedOperationException.class)
            .hasMessageContaining(lanes + " lanes");
      }
    }
  }
}
