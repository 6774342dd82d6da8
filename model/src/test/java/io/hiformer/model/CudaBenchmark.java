package io.hiformer.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hiformer.kernels.CpuKernels;
import io.hiformer.kernels.cuda.FusedLayout;
import io.hiformer.kernels.cuda.Precision;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The GPU side of the kernels benchmark (kernels/bench/gpu-bench.sh runs it, then the PyTorch
 * baseline on the files it writes): ref-serving with random weights, written as a model file, and
 * random inputs, written as safetensors, so PyTorch runs the same model on the same inputs. For
 * each batch size, precision and kernel variant: the logits against the CPU model, and device
 * time per batch from CUDA events (inputs already on the device, as PyTorch's are), median of
 * three runs; for the variant {@link FusedLayout#choose} picks, also the wall time of a whole
 * {@link CudaScorer#score} call (copies in and out included).
 *
 * <p>Arguments: {@code --out DIR [--batches 256,1024,...] [--millis 150]}. Writes
 * {@code DIR/model.safetensors}, {@code inputs.safetensors}, {@code logits-fp32.f32},
 * {@code logits-tf32.f32} (all inputs, row-major {@code [B, T]}), {@code ours.json}.
 */
public final class CudaBenchmark {
  private CudaBenchmark() {}

  public static void main(String[] args) throws Exception {
    Path out = null;
    int[] batches = {256, 1024, 4096, 16384, 65536};
    double millis = 150;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--out" -> out = Path.of(args[++i]);
        case "--batches" -> batches = Arrays.stream(args[++i].split(",")).mapToInt(Integer::parseInt).toArray();
        case "--millis" -> millis = Double.parseDouble(args[++i]);
        default -> throw new IllegalArgumentException("unknown argument " + args[i]);
      }
    }
    if (out == null) {
      throw new IllegalArgumentException("usage: CudaBenchmark --out DIR [--batches 256,1024] [--millis 150]");
    }
    Files.createDirectories(out);
    ModelConfig c = CudaScorerTest.refServing();
    Parameters p = Parameters.initialize(c, 1);
    ModelFile.write(out.resolve("model.safetensors"), p, Map.of());
    int max = Arrays.stream(batches).max().orElseThrow();
    Batch all = TestModels.randomBatch(c, max, new SplittableRandom(2));
    writeInputs(out.resolve("inputs.safetensors"), c, all);

    int threads = Runtime.getRuntime().availableProcessors();
    float[] cpu = new float[max * c.numTasks()];
    long t0 = System.nanoTime();
    try (CpuScorer s = new CpuScorer(new Hiformer(p, CpuKernels.best()), threads)) {
      s.score(all, cpu);
    }
    double cpuSeconds = (System.nanoTime() - t0) / 1e9;
    System.out.printf("CPU reference (%s, %d threads): %d candidates in %.2f s%n", CpuKernels.best().name(), threads,
        max, cpuSeconds);

    ObjectMapper json = new ObjectMapper();
    ObjectNode root = json.createObjectNode();
    root.put("model", "ref-serving");
    root.put("flops_per_candidate", c.forwardFlops());
    ArrayNode results = root.putArray("results");
    for (Precision precision : Precision.values()) {
      try (CudaScorer s = new CudaScorer(p, precision)) {
        root.put("device", s.forward().device().toString());
        float[] logits = new float[max * c.numTasks()];
        s.score(all, logits);
        writeFloats(out.resolve("logits-" + precision.name().toLowerCase(java.util.Locale.ROOT) + ".f32"), logits);
        System.out.printf("%s: %d candidates, max |logit - CPU| %.3g%n", s.description(), max,
            FusedKernelEmulationTest.maxAbsDiff(logits, cpu));
        for (int n : batches) {
          Batch b = prefix(c, all, n);
          float[] want = Arrays.copyOf(cpu, n * c.numTasks());
          FusedLayout.Variant chosen = s.forward().choose(n);
          s.stage(b);
          for (FusedLayout.Variant v : s.forward().layout().variants()) {
            float[] got = new float[n * c.numTasks()];
            s.forward().fillLogits(Float.NaN);
            s.forward().launch(n, v);
            s.forward().readLogits(n, got);
            double err = FusedKernelEmulationTest.maxAbsDiff(got, want);
            double ms = median(device(s, n, v, millis));
            ObjectNode r = results.addObject();
            r.put("precision", precision.name().toLowerCase(java.util.Locale.ROOT));
            r.put("batch", n);
            r.put("variant", v.toString());
            r.put("chosen", v.equals(chosen));
            r.put("ms", ms);
            r.put("candidates_per_s", n / (ms / 1e3));
            r.put("max_abs_error", err);
            if (v.equals(chosen)) {
              r.put("end_to_end_ms", median(endToEnd(s, b, millis)));
            }
            System.out.printf("  batch %6d %-10s %s %8.4f ms %8.2f M/s  err %.2g%s%n", n, v,
                v.equals(chosen) ? "*" : " ", ms, n / ms / 1e3, err,
                v.equals(chosen) ? String.format("  end-to-end %.4f ms", r.get("end_to_end_ms").asDouble()) : "");
          }
        }
      }
    }
    json.writerWithDefaultPrettyPrinter().writeValue(out.resolve("ours.json").toFile(), root);
  }

  /** Three device timings (ms per launch) of about {@code millis} each. */
  private static double[] device(CudaScorer s, int n, FusedLayout.Variant v, double millis) {
    double once = s.forward().millisPerLaunch(n, v, 2, 3);
    int iterations = (int) Math.max(5, Math.min(5000, millis / Math.max(once, 1e-3)));
    double[] ms = new double[3];
    for (int i = 0; i < ms.length; i++) {
      ms[i] = s.forward().millisPerLaunch(n, v, 1, iterations);
    }
    return ms;
  }

  /** Three wall-clock timings (ms per call) of whole score calls, copies included. */
  private static double[] endToEnd(CudaScorer s, Batch b, double millis) {
    float[] out = new float[b.size() * s.forward().layout().shape().tasks()];
    s.score(b, out);
    long t = System.nanoTime();
    s.score(b, out);
    double once = (System.nanoTime() - t) / 1e6;
    int iterations = (int) Math.max(3, Math.min(2000, millis / Math.max(once, 1e-3)));
    double[] ms = new double[3];
    for (int i = 0; i < ms.length; i++) {
      long start = System.nanoTime();
      for (int k = 0; k < iterations; k++) {
        s.score(b, out);
      }
      ms[i] = (System.nanoTime() - start) / 1e6 / iterations;
    }
    return ms;
  }

  private static double median(double[] v) {
    double[] s = v.clone();
    Arrays.sort(s);
    return s[s.length / 2];
  }

  /** The first {@code n} examples of {@code all}. */
  private static Batch prefix(ModelConfig c, Batch all, int n) {
    int cats = c.categoricalFields().size();
    int bags = c.bagFields().size();
    int[] offsets = Arrays.copyOf(all.bagOffsets, n * bags + 1);
    return Batch.of(c, n, Arrays.copyOf(all.categorical, n * cats), Arrays.copyOf(all.bagIds, offsets[n * bags]),
        offsets, Arrays.copyOf(all.dense, n * c.numDense()), null, null);
  }

  private static void writeInputs(Path file, ModelConfig c, Batch b) throws java.io.IOException {
    int n = b.size();
    int cats = c.categoricalFields().size();
    int bags = c.bagFields().size();
    int ids = b.bagOffsets[n * bags];
    List<SafeTensors.Tensor> t = new ArrayList<>();
    t.add(SafeTensors.Tensor.i32("input.cat", new int[] {n, cats}, Arrays.copyOf(b.categorical, n * cats)));
    t.add(SafeTensors.Tensor.i32("input.bag_offsets", new int[] {n * bags + 1}, Arrays.copyOf(b.bagOffsets, n * bags + 1)));
    t.add(SafeTensors.Tensor.i32("input.bag_ids", new int[] {ids}, Arrays.copyOf(b.bagIds, ids)));
    t.add(SafeTensors.Tensor.f32("input.dense", new int[] {n, c.numDense()}, Arrays.copyOf(b.dense, n * c.numDense())));
    new SafeTensors(Map.of(), t).write(file);
  }

  private static void writeFloats(Path file, float[] v) throws java.io.IOException {
    ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(v);
    Files.write(file, b.array());
  }
}
