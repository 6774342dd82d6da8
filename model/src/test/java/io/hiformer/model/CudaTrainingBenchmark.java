package io.hiformer.model;

import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuMemsetD32;

import io.hiformer.kernels.CpuKernels;
import io.hiformer.kernels.cuda.CudaDevice;
import io.hiformer.kernels.cuda.FusedLayout;
import io.hiformer.kernels.cuda.FusedTraining;
import io.hiformer.kernels.cuda.Precision;
import java.util.List;
import java.util.SplittableRandom;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

/**
 * On a GPU host: the CUDA training kernels on every golden file and a W = 32 random model against
 * the CPU (verify's comparisons and bounds), then whole training steps of ref-serving (random
 * weights, fp32) timed at a few batch sizes: inputs copied, both launches, the loss read back.
 * {@code java -cp ... io.hiformer.model.CudaTrainingBenchmark [batches]}; exit 1 if a check fails.
 */
public final class CudaTrainingBenchmark {
  private CudaTrainingBenchmark() {}

  public static void main(String[] args) throws Exception {
    CudaDevice device = CudaDevice.shared();
    System.out.println("device " + device.name());
    boolean ok = true;
    for (String name : List.of("golden-small", "golden-unpruned", "golden-deep", "golden-nodense", "golden-wide")) {
      Parameters p = ModelFile.read(Golden.weights(name));
      SafeTensors expected = SafeTensors.parse(Golden.expected(name));
      ok &= report(name, GoldenCheck.check(p, expected, b -> gpu(p, b)));
    }
    ModelConfig w32 = new ModelConfig("w32", 32, 4, 3, List.of("a", "b"), 16, 24, 3, List.of(16, 8), 2, true,
        FusedKernelEmulationTest.fields(3, 13, 2));
    SplittableRandom rnd = new SplittableRandom(11);
    Parameters pw = TestModels.randomParameters(w32, rnd);
    Batch bw = TestModels.randomBatch(w32, 77, rnd);
    ok &= report("w32 random vs cpu", GoldenCheck.check(pw, GoldenCheck.expected(pw, bw, CpuKernels.scalar()),
        b -> gpu(pw, b)));

    ModelConfig c = BundledConfigs.get(BundledConfigs.REF_SERVING);
    Parameters p = Parameters.initialize(c, 1);
    FusedLayout layout = new FusedLayout(CudaScorer.shape(c), Precision.FP32);
    float[] blob = CudaScorer.pack(p, layout);
    int[] batches = args.length > 0 ? java.util.Arrays.stream(args[0].split(",")).mapToInt(Integer::parseInt).toArray()
        : new int[] {1024, 4096, 16384};
    try (FusedTraining t = new FusedTraining(device, layout)) {
      System.out.printf("ref-serving: saved activations %d floats, intermediate gradients %d floats an example (%.1f KiB)%n",
          t.trainingLayout().activationFloats(), t.trainingLayout().gradientFloats(), t.scratchBytesPerExample() / 1024.0);
      CUdeviceptr w = new CUdeviceptr();
      CUdeviceptr g = new CUdeviceptr();
      CUdeviceptr e = new CUdeviceptr();
      int nemb = c.embeddedFields().size();
      int most = java.util.Arrays.stream(batches).max().getAsInt();
      cuMemAlloc(w, 4L * blob.length);
      cuMemcpyHtoD(w, Pointer.to(blob), 4L * blob.length);
      cuMemAlloc(g, 4L * blob.length);
      cuMemsetD32(g, 0, blob.length);
      cuMemAlloc(e, 4L * most * nemb * c.tokenDim());
      try {
        for (int n : batches) {
          Batch b = TestModels.randomBatch(c, n, new SplittableRandom(n));
          Runnable step = () -> t.forwardBackward(n, b.categorical, b.bagOffsets, b.bagIds, b.dense, b.labels,
              b.labelMask, n, w, g, e, false);
          step.run();
          int iters = Math.max(3, 65536 / n);
          long t0 = System.nanoTime();
          for (int i = 0; i < iters; i++) {
            step.run();
          }
          double ms = (System.nanoTime() - t0) / 1e6 / iters;
          System.out.printf("ref-serving fp32 batch %,d: %.3f ms a step, %.3f M examples/s%n", n, ms, n / ms / 1e3);
        }
      } finally {
        cuMemFree(w);
        cuMemFree(g);
        cuMemFree(e);
      }
    }
    System.exit(ok ? 0 : 1);
  }

  private static GoldenCheck.Pass gpu(Parameters p, Batch b) {
    try {
      return CudaTraining.run(p, b);
    } catch (io.hiformer.kernels.cuda.CudaUnavailableException ex) {
      throw new IllegalStateException(ex);
    }
  }

  private static boolean report(String name, GoldenCheck.Report r) {
    System.out.printf("%-20s %s states %.2e logits %.2e loss %.2e gradients %.2e (%s) %s%n", name,
        r.passes() ? "PASS" : "FAIL", r.stateError(), r.logitError(), r.lossError(), r.gradientError(),
        r.worstGradient(), r.problems());
    return r.passes();
  }
}
