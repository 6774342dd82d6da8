package io.hiformer.ops;

import io.hiformer.kernels.CpuKernels;
import io.hiformer.kernels.cuda.CudaUnavailableException;
import io.hiformer.model.CudaTraining;
import io.hiformer.model.GoldenCheck;
import io.hiformer.model.ModelFile;
import io.hiformer.model.ModelFileException;
import io.hiformer.model.Parameters;
import io.hiformer.model.SafeTensors;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine;

/** {@code hiformer verify}: runs a model on an expected file's inputs and compares everything. */
@Command(name = "verify", mixinStandardHelpOptions = true,
    description = {
        "Runs the model on the inputs of an expected file (docs/model.md, Expected files) and compares hidden states,"
            + " logits, loss and gradients.",
        "Exits 0 when states, logits and loss are within 1e-5 (absolute) and every gradient within 1e-4 (relative"
            + " to the largest value of its tensor, at least 1e-3); 1 when they are not; 2 on unreadable files, or with"
            + " --backend cuda where there is no usable GPU."})
final class VerifyCommand implements Callable<Integer> {

  @CommandLine.Parameters(index = "0", paramLabel = "WEIGHTS", description = "model file (.safetensors with config metadata)")
  Path weights;

  @CommandLine.Parameters(index = "1", paramLabel = "EXPECTED", description = "expected file: inputs, hidden states, logits, loss, gradients")
  Path expected;

  @Option(names = "--kernels", defaultValue = "scalar", description = {
      "CPU kernels: ${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE}, the reference, which sums in double;",
      "simd sums in float32 as served, and is held to the same bounds by the tests)"})
  KernelChoice kernels;

  @Option(names = "--backend", defaultValue = "cpu", paramLabel = "cpu|cuda", converter = VerifyBackend.Name.class,
      description = {"where the pass runs: cpu (the model of the model module, with --kernels) or cuda (the GPU's"
          + " training kernels: forward with saved activations, loss, backward, in fp32)", "(default: ${DEFAULT-VALUE})"})
  VerifyBackend backend;

  /** The two places a pass can run. */
  enum VerifyBackend {
    CPU, CUDA;

    /** {@code cpu} or {@code cuda}, in any case. */
    static final class Name implements CommandLine.ITypeConverter<VerifyBackend> {
      @Override
      public VerifyBackend convert(String value) {
        return VerifyBackend.valueOf(value.toUpperCase(java.util.Locale.ROOT));
      }
    }
  }

  @Override
  public Integer call() throws Exception {
    PrintStream out = System.out;
    Parameters params;
    SafeTensors exp;
    try {
      params = ModelFile.read(UserErrors.readableFile("WEIGHTS", weights));
      exp = SafeTensors.read(UserErrors.readableFile("EXPECTED", expected));
    } catch (ModelFileException | IllegalArgumentException | java.io.IOException | java.io.UncheckedIOException e) {
      System.err.println("error: " + UserErrors.message(e));
      return 2;
    }
    CpuKernels k = kernels.kernels();
    GoldenCheck.Report r;
    try {
      if (backend == VerifyBackend.CUDA) {
        String why = CudaTraining.unsupported(params.config());
        if (why != null) {
          System.err.println("error: the CUDA training kernels cannot run this model: " + why);
          return 2;
        }
        r = GoldenCheck.check(params, exp, batch -> {
          try {
            return CudaTraining.run(params, batch);
          } catch (CudaUnavailableException e) {
            throw new NoGpu(e.getMessage());
          }
        });
      } else {
        r = GoldenCheck.check(params, exp, k);
      }
    } catch (NoGpu e) {
      System.err.println("error: no usable GPU: " + e.getMessage());
      return 2;
    } catch (ModelFileException | IllegalArgumentException e) {
      System.err.println("error: " + expected + ": " + e.getMessage());
      return 2;
    }
    out.printf("model      %s (%d parameters, %d layers, %d tokens)%n", weights, params.count(),
        params.config().layers(), params.config().numTokens());
    out.printf("expected   %s (%d examples), %s%n", expected, r.examples(),
        backend == VerifyBackend.CUDA ? "backend cuda (training kernels, fp32)" : "kernels " + k.name());
    out.printf("hidden     max abs error %.3e  (worst: %s)%n", r.stateError(), r.worstState());
    out.printf("logits     max abs error %.3e%n", r.logitError());
    out.printf("loss       abs error     %.3e%n", r.lossError());
    out.printf("gradients  max rel error %.3e  (worst: %s)%n", r.gradientError(), r.worstGradient());
    for (String p : r.problems()) {
      out.println("problem    " + p);
    }
    out.println(r.passes() ? "PASS" : "FAIL: beyond 1e-5 (states, logits, loss) or 1e-4 (gradients)");
    return r.passes() ? 0 : 1;
  }

  /** Carries "no usable GPU" out of the pass, which may not throw checked exceptions. */
  private static final class NoGpu extends RuntimeException {
    NoGpu(String message) {
      super(message, null, false, false);
    }
  }
}
