package io.hiformer.training;

import io.hiformer.kernels.CpuKernels;
import io.hiformer.kernels.cuda.CudaDevice;
import io.hiformer.kernels.cuda.CudaTrainingDevice;
import io.hiformer.model.Batch;
import io.hiformer.model.BundledConfigs;
import io.hiformer.model.Dropout;
import io.hiformer.model.Hiformer;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.ModelFile;
import io.hiformer.model.Parameters;
import java.io.BufferedOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The GPU training benchmark, beside PyTorch (training/bench/torch_train.py, which reads what this
 * writes):
 * <pre>
 *   dump --out DIR [--examples N] [--seed S]   model.safetensors (ref-serving, initial weights),
 *                                              batches.bin (N examples), logits.f32 (the CPU model's
 *                                              logits of the first 1,024, for PyTorch's check)
 *   time --dir DIR [--batches 1024,4096,16384] [--steps 20] [--repeats 3]
 *                                              whole steps of the GPU trainer (forward, backward,
 *                                              finiteness check, optimiser) on those batches:
 *                                              DIR/ours.json
 *   check                                      optim.cu on the GPU against the CPU trainer (one
 *                                              thread, scalar kernels): five steps of the synthetic
 *                                              model with weight decay, embedding decay, L2 and the
 *                                              moving average; exit 1 beyond 1e-5
 * </pre>
 * Batch k of size B is examples {@code [k·B, (k+1)·B)} of batches.bin, wrapping around, in both.
 * batches.bin ("HFTRB1\0\0", little-endian): int32 n, #categorical, #bag, #dense, #tasks; int32
 * categorical {@code [n·C]}; int32 bag offsets {@code [n·#bag + 1]}; int32 count and the bag ids;
 * float32 dense {@code [n·D]}, labels {@code [n·T]}, label mask {@code [n·T]}.
 */
public final class GpuTrainingBenchmark {
  static final double LR = 1e-3;

  private GpuTrainingBenchmark() {}

  public static void main(String[] args) throws Exception {
    Map<String, String> o = options(args);
    switch (args.length == 0 ? "" : args[0]) {
      case "dump" -> dump(Path.of(o.get("--out")), Integer.parseInt(o.getOrDefault("--examples", "327680")),
          Long.parseLong(o.getOrDefault("--seed", "1")));
      case "time" -> time(Path.of(o.get("--dir")), ints(o.getOrDefault("--batches", "1024,4096,16384")),
          Integer.parseInt(o.getOrDefault("--steps", "20")), Integer.parseInt(o.getOrDefault("--repeats", "3")));
      case "check" -> System.exit(check() ? 0 : 1);
      default -> {
        System.err.println("usage: GpuTrainingBenchmark dump --out DIR | time --dir DIR [--batches ...] | check");
        System.exit(2);
      }
    }
  }

  static boolean check() throws Exception {
    ModelConfig c = SyntheticCtr.config();
    Trainer.Options o = new Trainer.Options(64, 1e-2, 2, new Dropout(0.1f, 0.1f, 0.1f, 0.1f),
        new Adam.Settings(0.9, 0.999, 1e-8, 1e-3, 0.5, 1e-4), 1, 9, 0.9);
    CudaTrainingDevice dev = new CudaTrainingDevice(CudaDevice.shared());
    ExampleSet data = new ExampleSet(c);
    Batch b = new Batch(c, 320);
    new SyntheticCtr(11).sample(b, 320, new SplittableRandom(5));
    data.addAll(b);
    double worst = 0;
    try (Trainer want = new Trainer(Parameters.initialize(c, 9), o, CpuKernels.scalar());
        Trainer got = Trainer.onDevice(Parameters.initialize(c, 9), o, CpuKernels.scalar(), dev,
            HostDeviceStep.factory(dev, CpuKernels.scalar(), o.dropout()))) {
      for (Batch batch : data.batches(64, false, 0)) {
        double lw = want.step(batch);
        double lg = got.step(batch);
        System.out.printf(Locale.ROOT, "loss cpu %.9f gpu %.9f%n", lw, lg);
        worst = Math.max(worst, Math.abs(lw - lg));
      }
      want.settle();
      got.settle();
      worst = Math.max(worst, maxDiff(got.parameters(), want.parameters(), "weights"));
      worst = Math.max(worst, maxDiff(got.optimizer().firstMoments(), want.optimizer().firstMoments(), "m"));
      worst = Math.max(worst, maxDiff(got.optimizer().secondMoments(), want.optimizer().secondMoments(), "v"));
      worst = Math.max(worst, maxDiff(got.evaluationParameters(), want.evaluationParameters(), "average"));
    } finally {
      dev.close();
    }
    System.out.printf(Locale.ROOT, "check on %s: largest difference %.3g (bound 1e-5): %s%n", dev.name(), worst,
        worst <= 1e-5 ? "PASS" : "FAIL");
    return worst <= 1e-5;
  }

  private static double maxDiff(Parameters got, Parameters want, String what) {
    double max = 0;
    for (Parameters.Tensor t : want.tensors()) {
      float[] g = got.get(t.name());
      for (int i = 0; i < t.size(); i++) {
        max = Math.max(max, Math.abs((double) g[i] - t.data()[i]));
      }
    }
    System.out.printf(Locale.ROOT, "%s: max |gpu - cpu| %.3g%n", what, max);
    return max;
  }

  static ModelConfig config() {
    return BundledConfigs.get(BundledConfigs.REF_SERVING);
  }

  static void dump(Path dir, int n, long seed) throws IOException {
    Files.createDirectories(dir);
    ModelConfig c = config();
    Parameters p = Parameters.initialize(c, seed);
    ModelFile.write(dir.resolve("model.safetensors"), p, Map.of());
    Batch all = randomBatch(c, n, new SplittableRandom(seed + 1));
    try (OutputStream f = Files.newOutputStream(dir.resolve("batches.bin"));
        DataOutputStream out = new DataOutputStream(new BufferedOutputStream(f, 1 << 20))) {
      out.write("HFTRB1\0\0".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
      ints(out, n, c.categoricalFields().size(), c.bagFields().size(), c.numDense(), c.numTasks());
      ints(out, Arrays.copyOf(all.categoricalIds(), n * c.categoricalFields().size()));
      int[] off = Arrays.copyOf(all.bagOffsetArray(), n * c.bagFields().size() + 1);
      ints(out, off);
      ints(out, off[off.length - 1]);
      ints(out, Arrays.copyOf(all.bagIdArray(), off[off.length - 1]));
      floats(out, Arrays.copyOf(all.denseValues(), n * c.numDense()));
      floats(out, Arrays.copyOf(all.labelValues(), n * c.numTasks()));
      floats(out, Arrays.copyOf(all.labelMaskValues(), n * c.numTasks()));
    }
    int check = Math.min(1024, n);
    Batch first = slice(c, all, 0, check);
    float[] logits = new float[check * c.numTasks()];
    try (io.hiformer.model.CpuScorer s = new io.hiformer.model.CpuScorer(new Hiformer(p, CpuKernels.best()), 1)) {
      s.score(first, logits);
    }
    try (OutputStream f = Files.newOutputStream(dir.resolve("logits.f32"));
        DataOutputStream out = new DataOutputStream(f)) {
      floats(out, logits);
    }
    System.out.printf("wrote %s: model, %,d examples, CPU logits of %d%n", dir, n, check);
  }

  static void time(Path dir, int[] sizes, int steps, int repeats) throws Exception {
    ModelConfig c = config();
    Batch all = readBatches(c, dir.resolve("batches.bin"));
    Parameters initial = ModelFile.read(dir.resolve("model.safetensors"));
    CudaDevice gpu = CudaDevice.shared();
    List<String> rows = new ArrayList<>();
    double flops = 3.0 * c.forwardFlops();  // forward, and a backward of about twice its products
    for (int b : sizes) {
      List<Batch> batches = new ArrayList<>();
      for (int k = 0; k < Math.min(steps, all.size() / b); k++) {
        batches.add(slice(c, all, k * b, b));
      }
      Trainer.Options o = new Trainer.Options(b, LR, 0, Dropout.NONE, Adam.Settings.defaults(), 1, 1, 0);
      CudaTrainingDevice dev = new CudaTrainingDevice(gpu);
      DeviceStep.Factory step = HostDeviceStep.factory(dev, CpuKernels.best(), o.dropout());
      double[] ms = new double[repeats];
      try (Trainer t = Trainer.onDevice(initial.copy(), o, CpuKernels.best(), dev, step)) {
        t.step(batches.get(0));  // warm-up: the upload, the JIT
        dev.synchronize();
        for (int r = 0; r < repeats; r++) {
          long start = System.nanoTime();
          for (Batch batch : batches) {
            t.step(batch);
          }
          dev.synchronize();
          ms[r] = (System.nanoTime() - start) / 1e6 / batches.size();
        }
      } finally {
        dev.close();
      }
      double[] sorted = ms.clone();
      Arrays.sort(sorted);
      double median = sorted[repeats / 2];
      double perSecond = b / (median / 1e3);
      System.out.printf(Locale.ROOT, "batch %d: %.3f ms a step (min %.3f, max %.3f), %.0f examples/s, %.1f TFLOP/s"
          + " [%s]%n", b, median, sorted[0], sorted[repeats - 1], perSecond, perSecond * flops / 1e12,
          step.description());
      rows.add(String.format(Locale.ROOT, "{\"batch\": %d, \"ms\": %.5f, \"min_ms\": %.5f, \"max_ms\": %.5f,"
          + " \"examples_per_second\": %.1f, \"steps\": %d, \"repeats\": %d, \"step\": \"%s\"}", b, median, sorted[0],
          sorted[repeats - 1], perSecond, batches.size(), repeats, step.description().replace("\"", "'")));
    }
    Files.writeString(dir.resolve("ours.json"), String.format(Locale.ROOT,
        "{\"device\": \"%s\", \"train_flops_per_example\": %.1f, \"results\": [%n  %s%n]}%n", gpu.name(), flops,
        String.join(",\n  ", rows)));
  }

  /** Random ids over each field's vocabulary, 0 to 3 ids a bag, Gaussian dense values, labels and masks. */
  static Batch randomBatch(ModelConfig c, int n, SplittableRandom rnd) {
    Batch b = new Batch(c, n);
    var cats = c.categoricalFields();
    var bags = c.bagFields();
    for (int i = 0; i < n; i++) {
      int[] ids = new int[cats.size()];
      for (int k = 0; k < ids.length; k++) {
        ids[k] = rnd.nextInt(cats.get(k).vocab());
      }
      int[][] bagIds = new int[bags.size()][];
      for (int k = 0; k < bagIds.length; k++) {
        bagIds[k] = new int[rnd.nextInt(4)];
        for (int q = 0; q < bagIds[k].length; q++) {
          bagIds[k][q] = rnd.nextInt(bags.get(k).vocab());
        }
      }
      float[] dense = new float[c.numDense()];
      for (int k = 0; k < dense.length; k++) {
        dense[k] = (float) rnd.nextGaussian();
      }
      float[] labels = new float[c.numTasks()];
      float[] mask = new float[c.numTasks()];
      for (int j = 0; j < labels.length; j++) {
        labels[j] = rnd.nextInt(4) == 0 ? 1f : 0f;
        mask[j] = 1f;
      }
      b.add(ids, bagIds, dense, labels, mask);
    }
    return b;
  }

  /** Examples {@code [from, from + n)} of {@code all} as a batch of their own. */
  static Batch slice(ModelConfig c, Batch all, int from, int n) {
    int nc = c.categoricalFields().size();
    int nb = c.bagFields().size();
    int t = c.numTasks();
    int[] off = Arrays.copyOfRange(all.bagOffsetArray(), from * nb, (from + n) * nb + 1);
    int base = off[0];
    for (int i = 0; i < off.length; i++) {
      off[i] -= base;
    }
    return Batch.of(c, n, Arrays.copyOfRange(all.categoricalIds(), from * nc, (from + n) * nc),
        Arrays.copyOfRange(all.bagIdArray(), base, base + off[off.length - 1]), off,
        Arrays.copyOfRange(all.denseValues(), from * c.numDense(), (from + n) * c.numDense()),
        Arrays.copyOfRange(all.labelValues(), from * t, (from + n) * t),
        Arrays.copyOfRange(all.labelMaskValues(), from * t, (from + n) * t));
  }

  static Batch readBatches(ModelConfig c, Path file) throws IOException {
    try (FileChannel ch = FileChannel.open(file)) {
      ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(ch.size())).order(ByteOrder.LITTLE_ENDIAN);
      while (b.hasRemaining() && ch.read(b) >= 0) {
        // read it all
      }
      b.flip();
      b.position(8);
      int n = b.getInt();
      int nc = b.getInt();
      int nb = b.getInt();
      int nd = b.getInt();
      int t = b.getInt();
      int[] cat = ints(b, n * nc);
      int[] off = ints(b, n * nb + 1);
      int[] ids = ints(b, b.getInt());
      float[] dense = floats(b, n * nd);
      float[] labels = floats(b, n * t);
      float[] mask = floats(b, n * t);
      return Batch.of(c, n, cat, ids, off, dense, labels, mask);
    }
  }

  private static int[] ints(ByteBuffer b, int n) {
    int[] v = new int[n];
    b.asIntBuffer().get(v);
    b.position(b.position() + 4 * n);
    return v;
  }

  private static float[] floats(ByteBuffer b, int n) {
    float[] v = new float[n];
    b.asFloatBuffer().get(v);
    b.position(b.position() + 4 * n);
    return v;
  }

  private static void ints(DataOutputStream out, int... v) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
    b.asIntBuffer().put(v);
    out.write(b.array());
  }

  private static void floats(DataOutputStream out, float[] v) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(v);
    out.write(b.array());
  }

  private static int[] ints(String csv) {
    return Arrays.stream(csv.split(",")).mapToInt(Integer::parseInt).toArray();
  }

  private static Map<String, String> options(String[] args) {
    Map<String, String> o = new java.util.HashMap<>();
    for (int i = 1; i + 1 < args.length; i += 2) {
      o.put(args[i], args[i + 1]);
    }
    return o;
  }
}
