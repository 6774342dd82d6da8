package io.hiformer.ops;

import static org.assertj.core.api.Assertions.assertThat;

import io.hiformer.model.SafeTensors;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** {@code hiformer verify} on real files: the golden pairs pass, a perturbed value fails. */
class VerifyCommandTest {
  private static final Path GOLDEN = Path.of("../model/src/test/resources/golden");

  @ParameterizedTest
  @ValueSource(strings = {"golden-small", "golden-unpruned", "golden-deep", "golden-nodense", "golden-wide"})
  void passesEveryGoldenPairWithBothKernels(String name) {
    for (String kernels : new String[] {"scalar", "simd"}) {
      Result r = run("verify", "--kernels", kernels, GOLDEN.resolve(name + ".weights.safetensors").toString(),
          GOLDEN.resolve(name + ".expected.safetensors").toString());
      assertThat(r.exit).as(r.out).isZero();
      assertThat(r.out).contains("PASS").contains("logits     max abs error").contains("gradients  max rel error");
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"output.logits", "hidden.layer0", "output.loss", "grad.towers.0.0.weight"})
  void failsWhenOneExpectedValueIsPerturbed(String key, @TempDir Path dir) throws Exception {
    SafeTensors expected = SafeTensors.read(GOLDEN.resolve("golden-small.expected.safetensors"));
    List<SafeTensors.Tensor> tensors = new ArrayList<>();
    for (SafeTensors.Tensor t : expected.tensors()) {
      if (t.name().equals(key)) {
        float[] v = t.floats();
        v[v.length - 1] += 1e-3f;
        tensors.add(SafeTensors.Tensor.f32(key, t.shape(), v));
      } else {
        tensors.add(t);
      }
    }
    Path perturbed = dir.resolve("perturbed.safetensors");
    new SafeTensors(expected.metadata(), tensors).write(perturbed);

    Result r = run("verify", GOLDEN.resolve("golden-small.weights.safetensors").toString(), perturbed.toString());

    assertThat(r.exit).as(r.out).isEqualTo(1);
    assertThat(r.out).contains("FAIL");
  }

  @Test
  void refusesACorruptModelFileWithExitCodeTwo(@TempDir Path dir) throws Exception {
    byte[] good = Files.readAllBytes(GOLDEN.resolve("golden-small.weights.safetensors"));
    Path bad = dir.resolve("truncated.safetensors");
    Files.write(bad, java.util.Arrays.copyOf(good, good.length - 3));

    Result r = run("verify", bad.toString(), GOLDEN.resolve("golden-small.expected.safetensors").toString());

    assertThat(r.exit).isEqualTo(2);
    assertThat(r.err).contains("error:").contains("truncated.safetensors");
  }

  @Test
  void refusesAnExpectedFileOfAnotherModel() {
    Result r = run("verify", GOLDEN.resolve("golden-small.weights.safetensors").toString(),
        GOLDEN.resolve("golden-deep.expected.safetensors").toString());
    assertThat(r.exit).isEqualTo(2);
    assertThat(r.err).contains("error:");
  }

  @Test
  void cudaBackendWithoutAGpuExitsTwoWithOneLine() {
    org.junit.jupiter.api.Assumptions.assumeFalse(gpuPresent(), "a GPU is here: the cuda backend runs");
    Result r = run("verify", "--backend", "cuda", GOLDEN.resolve("golden-small.weights.safetensors").toString(),
        GOLDEN.resolve("golden-small.expected.safetensors").toString());
    assertThat(r.exit).as(r.out + r.err).isEqualTo(2);
    assertThat(r.err).startsWith("error: no usable GPU: ").hasLineCount(1);
    assertThat(r.out).doesNotContain("PASS");
  }

  @Test
  void cudaBackendPassesTheGoldenFilesWhereThereIsAGpu() {
    org.junit.jupiter.api.Assumptions.assumeTrue(gpuPresent(), "no usable GPU here");
    for (String name : new String[] {"golden-small", "golden-unpruned", "golden-deep", "golden-nodense", "golden-wide"}) {
      Result r = run("verify", "--backend", "cuda", GOLDEN.resolve(name + ".weights.safetensors").toString(),
          GOLDEN.resolve(name + ".expected.safetensors").toString());
      assertThat(r.exit).as(name + ": " + r.out + r.err).isZero();
      assertThat(r.out).contains("backend cuda").contains("PASS");
    }
  }

  private static boolean gpuPresent() {
    try {
      io.hiformer.kernels.cuda.CudaDevice.shared();
      return true;
    } catch (io.hiformer.kernels.cuda.CudaUnavailableException e) {
      return false;
    }
  }

  @Test
  void everyCommandHasHelp() {
    for (String command : new String[] {"verify", "quickstart"}) {
      Result r = run(command, "--help");
      assertThat(r.exit).isZero();
      assertThat(r.out).contains("Usage: hiformer " + command);
    }
  }

  record Result(int exit, String out, String err) {}

  static Result run(String... args) {
    return run(HiformerCommand::commandLine, args);
  }

  /** Runs a command line made after System.out and System.err are captured (picocli writes to them). */
  static Result run(java.util.function.Supplier<CommandLine> commandLine, String... args) {
    PrintStream oldOut = System.out;
    PrintStream oldErr = System.err;
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    try {
      System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
      System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
      int exit = commandLine.get().execute(args);
      return new Result(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    } finally {
      System.setOut(oldOut);
      System.setErr(oldErr);
    }
  }
}
