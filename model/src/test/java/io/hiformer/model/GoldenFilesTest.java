package io.hiformer.model;

import static org.assertj.core.api.Assertions.assertThat;

import io.hiformer.kernels.CpuKernels;
import java.io.IOException;
import java.io.InputStream;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Every golden pair in the test resources passes, with the scalar and the SIMD kernels. */
class GoldenFilesTest {

  static Stream<Arguments> goldens() {
    return Stream.of("golden-small", "golden-unpruned", "golden-deep", "golden-nodense", "golden-wide")
        .flatMap(name -> Stream.of(Arguments.of(name, "scalar"), Arguments.of(name, "best")));
  }

  @ParameterizedTest(name = "{0} with {1} kernels")
  @MethodSource("goldens")
  void reproducesStatesLogitsLossAndGradients(String name, String kernels) throws IOException {
    Parameters weights = ModelFile.read(resource(name + ".weights.safetensors"));
    SafeTensors expected = SafeTensors.parse(resource(name + ".expected.safetensors"));
    CpuKernels k = kernels.equals("scalar") ? CpuKernels.scalar() : CpuKernels.best();

    GoldenCheck.Report r = GoldenCheck.check(weights, expected, k);

    assertThat(r.problems()).isEmpty();
    assertThat(r.stateError()).as("hidden states (worst %s)", r.worstState()).isLessThan(1e-5);
    assertThat(r.logitError()).as("logits").isLessThan(1e-5);
    assertThat(r.lossError()).as("loss").isLessThan(1e-5);
    assertThat(r.gradientError()).as("gradients (worst %s)", r.worstGradient()).isLessThan(1e-4);
    assertThat(r.passes()).isTrue();
  }

  /**
   * C2 compiles the SIMD kernels with other reduction orders and SVML's exp and tanh, so their
   * rounding differs from the interpreter's: check the bounds again once everything is compiled.
   */
  @org.junit.jupiter.api.Test
  void simdStaysWithinBoundsOnceCompiled() throws IOException {
    String[] names = {"golden-small", "golden-unpruned", "golden-deep", "golden-nodense", "golden-wide"};
    Parameters[] weights = new Parameters[names.length];
    SafeTensors[] expected = new SafeTensors[names.length];
    for (int i = 0; i < names.length; i++) {
      weights[i] = ModelFile.read(resource(names[i] + ".weights.safetensors"));
      expected[i] = SafeTensors.parse(resource(names[i] + ".expected.safetensors"));
    }
    for (int round = 0; round < 400; round++) {
      for (int i = 0; i < names.length; i++) {
        GoldenCheck.Report r = GoldenCheck.check(weights[i], expected[i], CpuKernels.best());
        assertThat(r.passes()).as("%s in round %d: %s", names[i], round, r).isTrue();
      }
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("perturbations")
  void failsWhenOneExpectedValueIsPerturbed(String key, float delta) throws IOException {
    Parameters weights = ModelFile.read(resource("golden-deep.weights.safetensors"));
    SafeTensors expected = SafeTensors.parse(resource("golden-deep.expected.safetensors"));
    SafeTensors perturbed = perturb(expected, key, delta);

    GoldenCheck.Report r = GoldenCheck.check(weights, perturbed, CpuKernels.best());

    assertThat(r.passes()).as("perturbing %s by %s", key, delta).isFalse();
  }

  static Stream<Arguments> perturbations() {
    return Stream.of(Arguments.of("output.logits", 1e-4f), Arguments.of("output.loss", 1e-4f),
        Arguments.of("hidden.layer1", 1e-4f), Arguments.of("hidden.tokens", 1e-4f),
        Arguments.of("grad.layers.0.attn.uk", 1e-2f), Arguments.of("grad.emb.recent_items", 1e-2f));
  }

  /** A copy of {@code file} with the largest-magnitude element of {@code key} moved by {@code delta} relative. */
  static SafeTensors perturb(SafeTensors file, String key, float delta) {
    java.util.List<SafeTensors.Tensor> tensors = new java.util.ArrayList<>();
    for (SafeTensors.Tensor t : file.tensors()) {
      if (t.name().equals(key)) {
        float[] v = t.floats();
        int at = 0;
        for (int i = 0; i < v.length; i++) {
          if (Math.abs(v[i]) > Math.abs(v[at])) {
            at = i;
          }
        }
        v[at] += delta * Math.max(1f, Math.abs(v[at]));
        tensors.add(SafeTensors.Tensor.f32(t.name(), t.shape(), v));
      } else {
        tensors.add(t);
      }
    }
    return new SafeTensors(file.metadata(), tensors);
  }

  static byte[] resource(String name) throws IOException {
    try (InputStream in = GoldenFilesTest.class.getResourceAsStream("/golden/" + name)) {
      if (in == null) {
        throw new IOException("missing test resource /golden/" + name);
      }
      return in.readAllBytes();
    }
  }
}
