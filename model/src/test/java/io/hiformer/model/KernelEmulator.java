package io.hiformer.model;

import io.hiformer.kernels.cuda.FusedLayout;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The fused CUDA kernel compiled for the CPU (kernels/src/test/cuda: one fiber per CUDA thread,
 * tensor-core products computed from the PTX fragment layout, shared memory under
 * AddressSanitizer), for checking the kernel and the Java packing on machines without a GPU.
 */
final class KernelEmulator {
  private static final Path SOURCES = Path.of("../kernels/src/test/cuda");
  private static final Path KERNEL = Path.of("../kernels/src/main/cuda");
  private static final Path BINARY = Path.of("target/cuda-emulator/hfemu");

  private KernelEmulator() {}

  /** Whether g++ is on the PATH. */
  static boolean available() {
    try {
      Process p = new ProcessBuilder("g++", "--version").redirectErrorStream(true).start();
      p.getInputStream().readAllBytes();
      return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
    } catch (IOException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  /** Builds the emulator once per build (a few seconds). */
  static synchronized Path binary() throws IOException, InterruptedException {
    long newest = 0;
    for (Path dir : List.of(SOURCES, KERNEL)) {
      try (var files = Files.list(dir)) {
        for (Path f : (Iterable<Path>) files::iterator) {
          newest = Math.max(newest, Files.getLastModifiedTime(f).toMillis());
        }
      }
    }
    if (Files.exists(BINARY) && Files.getLastModifiedTime(BINARY).toMillis() > newest) {
      return BINARY;
    }
    Files.createDirectories(BINARY.getParent());
    run(List.of("g++", "-std=c++17", "-O0", "-DHF_EMULATE", "-fsanitize=address", "-I" + SOURCES,
        "-o", BINARY.toString(), SOURCES.resolve("emu_main.cpp").toString()));
    return BINARY;
  }

  /** Logits {@code [B, T]} of {@code batch} from kernel variant {@code v}, threads run in order or reversed. */
  static float[] logits(FusedLayout layout, float[] blob, FusedLayout.Variant v, Batch batch, boolean reverse)
      throws IOException, InterruptedException {
    Path exe = binary();
    Path dir = Files.createTempDirectory(BINARY.getParent(), "run");
    try {
      Path image = dir.resolve("image");
      Path out = dir.resolve("logits");
      writeImage(image, layout, blob, v, batch);
      run(reverse ? List.of(exe.toString(), image.toString(), out.toString(), "reverse")
          : List.of(exe.toString(), image.toString(), out.toString()));
      ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(out)).order(ByteOrder.LITTLE_ENDIAN);
      float[] logits = new float[b.remaining() / 4];
      b.asFloatBuffer().get(logits);
      return logits;
    } finally {
      try (var files = Files.list(dir)) {
        for (Path f : (Iterable<Path>) files::iterator) {
          Files.delete(f);
        }
      }
      Files.delete(dir);
    }
  }

  /**
   * One training step of the CUDA training kernels (train.cuh) on {@code batch}, threads in order or
   * reversed, as the pass {@link GoldenCheck} compares: the same conversion {@link CudaTraining#run}
   * applies to the GPU's outputs. {@code gradsIn} is the gradient buffer before the step (for
   * {@code accumulate}); the raw packed gradients after it are copied into {@code gradsOut} if not null.
   */
  static GoldenCheck.Pass train(Parameters p, FusedLayout layout, Batch batch, boolean reverse, boolean accumulate,
      float[] gradsIn, float[] gradsOut) throws IOException, InterruptedException {
    io.hiformer.kernels.cuda.TrainingLayout tl = new io.hiformer.kernels.cuda.TrainingLayout(layout);
    Path exe = binary();
    Path dir = Files.createTempDirectory(BINARY.getParent(), "train");
    try {
      Path image = dir.resolve("image");
      Path out = dir.resolve("out");
      int n = batch.size();
      Counts c = counts(layout);
      int ids = batch.bagOffsets[n * c.bagCount];
      int tasks = p.config().numTasks();
      float[] blob = CudaScorer.pack(p, layout);
      ByteArrayOutputStream o = new ByteArrayOutputStream();
      o.write("HFTRN1\0\0".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
      o.write(ints(n, n, accumulate ? 1 : 0, tl.blocksPerSegment() > 1 ? 2 : 1));
      o.write(longs(layout.descriptor()));
      o.write(longs(new long[] {tl.activationFloats(), tl.gradientFloats()}));
      o.write(floats(blob, blob.length));
      o.write(intArray(batch.categorical, n * c.catCount));
      o.write(intArray(batch.bagOffsets, n * c.bagCount + 1));
      o.write(intArray(batch.bagIds, ids));
      o.write(floats(batch.dense, n * c.denseCount));
      o.write(floats(batch.labels, n * tasks));
      o.write(floats(batch.labelMask, n * tasks));
      int[] segs = tl.segments();
      o.write(intArray(segs, segs.length));
      float[] g0 = gradsIn != null ? gradsIn : new float[blob.length];
      o.write(floats(g0, g0.length));
      Files.write(image, o.toByteArray());
      run(reverse ? List.of(exe.toString(), image.toString(), out.toString(), "reverse")
          : List.of(exe.toString(), image.toString(), out.toString()));
      ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(out)).order(ByteOrder.LITTLE_ENDIAN);
      float[] logits = readFloats(b);
      float[] loss = readFloats(b);
      float[] dEmb = readFloats(b);
      float[] grads = readFloats(b);
      float[] act = readFloats(b);
      if (gradsOut != null) {
        System.arraycopy(grads, 0, gradsOut, 0, grads.length);
      }
      return CudaTraining.pass(p, tl, batch, logits, loss, dEmb, grads, act);
    } finally {
      try (var files = Files.list(dir)) {
        for (Path f : (Iterable<Path>) files::iterator) {
          Files.delete(f);
        }
      }
      Files.delete(dir);
    }
  }

  private static float[] readFloats(ByteBuffer b) {
    int n = Math.toIntExact(b.getLong());
    float[] v = new float[n];
    b.asFloatBuffer().get(v);
    b.position(b.position() + 4 * n);
    return v;
  }

  private static byte[] longs(long[] v) {
    ByteBuffer d = le(8 + 8L * v.length);
    d.putLong(v.length);
    for (long x : v) {
      d.putLong(x);
    }
    return d.array();
  }

  private static void writeImage(Path file, FusedLayout layout, float[] blob, FusedLayout.Variant v, Batch batch)
      throws IOException {
    int n = batch.size();
    Counts c = counts(layout);
    int ids = batch.bagOffsets[n * c.bagCount];
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write("HFEMU1\0\0".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
    out.write(ints(v.examples(), v.width(), v.cluster(), v.precision() == io.hiformer.kernels.cuda.Precision.FP32 ? 3 : 1,
        v.blocks(), n, layout.sharedBytes(v) / 4));
    long[] desc = layout.descriptor();
    ByteBuffer d = le(8 + 8L * desc.length);
    d.putLong(desc.length);
    for (long x : desc) {
      d.putLong(x);
    }
    out.write(d.array());
    out.write(floats(blob, blob.length));
    out.write(intArray(batch.categorical, n * c.catCount));
    out.write(intArray(batch.bagOffsets, n * c.bagCount + 1));
    out.write(intArray(batch.bagIds, ids));
    out.write(floats(batch.dense, n * c.denseCount));
    Files.write(file, out.toByteArray());
  }

  private record Counts(int catCount, int bagCount, int denseCount) {}

  private static Counts counts(FusedLayout layout) {
    var s = layout.shape();
    return new Counts(s.numCategorical(), s.numBag(), s.numDense());
  }

  private static byte[] ints(int... v) {
    ByteBuffer b = le(4L * v.length);
    for (int x : v) {
      b.putInt(x);
    }
    return b.array();
  }

  private static byte[] intArray(int[] v, int n) {
    ByteBuffer b = le(8 + 4L * n);
    b.putLong(n);
    for (int i = 0; i < n; i++) {
      b.putInt(v[i]);
    }
    return b.array();
  }

  private static byte[] floats(float[] v, int n) {
    ByteBuffer b = le(8 + 4L * n);
    b.putLong(n);
    for (int i = 0; i < n; i++) {
      b.putFloat(v[i]);
    }
    return b.array();
  }

  private static ByteBuffer le(long n) {
    return ByteBuffer.allocate(Math.toIntExact(n)).order(ByteOrder.LITTLE_ENDIAN);
  }

  private static void run(List<String> command) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String output = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    if (!p.waitFor(10, TimeUnit.MINUTES) || p.exitValue() != 0) {
      throw new IllegalStateException(String.join(" ", command) + " failed:\n" + output);
    }
  }
}
