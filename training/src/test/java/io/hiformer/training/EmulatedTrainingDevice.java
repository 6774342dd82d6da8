package io.hiformer.training;

import io.hiformer.kernels.cuda.TrainingDevice;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * {@link TrainingDevice} in host memory, each launch running the kernel of optim.cu compiled for the
 * CPU (kernels/src/test/cuda/emu_adam.cpp): the GPU trainer's code paths, the real kernels, no GPU.
 */
final class EmulatedTrainingDevice implements TrainingDevice {
  private static final Path SOURCE = Path.of("../kernels/src/test/cuda/emu_adam.cpp");
  private static final Path KERNEL = Path.of("../kernels/src/main/cuda/optim.cu");
  private static final Path BINARY = Path.of("target/cuda-emulator/emu_adam");

  private final long freeBytes;
  private final boolean reverse;
  private long launches;

  record HostBuffer(Type type, long count, Object data) implements Buffer {}

  EmulatedTrainingDevice(long freeBytes, boolean reverse) {
    this.freeBytes = freeBytes;
    this.reverse = reverse;
  }

  EmulatedTrainingDevice() {
    this(Long.MAX_VALUE / 2, false);
  }

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

  long launches() {
    return launches;
  }

  @Override
  public Buffer alloc(Type type, long count) {
    int n = Math.toIntExact(count);
    return new HostBuffer(type, count, switch (type) {
      case FLOAT -> new float[n];
      case INT -> new int[n];
      case DOUBLE -> new double[n];
    });
  }

  @Override
  public void free(Buffer buffer) {}

  @Override
  public void upload(Buffer buffer, Object host, long count) {
    System.arraycopy(host, 0, ((HostBuffer) buffer).data(), 0, Math.toIntExact(count));
  }

  @Override
  public void download(Buffer buffer, Object host, long count) {
    System.arraycopy(((HostBuffer) buffer).data(), 0, host, 0, Math.toIntExact(count));
  }

  @Override
  public void zero(Buffer buffer, long count) {
    int n = Math.toIntExact(count);
    switch (((HostBuffer) buffer).data()) {
      case float[] f -> Arrays.fill(f, 0, n, 0f);
      case int[] i -> Arrays.fill(i, 0, n, 0);
      case double[] d -> Arrays.fill(d, 0, n, 0);
      default -> throw new IllegalStateException();
    }
  }

  @Override
  public void launch(String kernel, long threads, Object... args) {
    if (threads <= 0) {
      return;
    }
    launches++;
    try {
      Path exe = binary();
      Path dir = Files.createTempDirectory(BINARY.getParent(), "launch");
      try {
        Path image = dir.resolve("image");
        Path out = dir.resolve("out");
        Files.write(image, image(kernel, threads, args));
        run(reverse ? List.of(exe.toString(), image.toString(), out.toString(), "reverse")
            : List.of(exe.toString(), image.toString(), out.toString()));
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(out)).order(ByteOrder.LITTLE_ENDIAN);
        for (Object a : args) {
          if (a instanceof HostBuffer h) {
            int n = Math.toIntExact(b.getLong());
            switch (h.data()) {
              case float[] f -> b.asFloatBuffer().get(f, 0, n);
              case int[] i -> b.asIntBuffer().get(i, 0, n);
              case double[] d -> b.asDoubleBuffer().get(d, 0, n);
              default -> throw new IllegalStateException();
            }
            b.position(b.position() + n * h.type().bytes);
          }
        }
      } finally {
        try (var files = Files.list(dir)) {
          for (Path f : (Iterable<Path>) files::iterator) {
            Files.delete(f);
          }
        }
        Files.delete(dir);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  private static byte[] image(String kernel, long threads, Object[] args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes("HFOPT1\0\0".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
    byte[] name = kernel.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    out.writeBytes(le(4).putInt(name.length).array());
    out.writeBytes(name);
    out.writeBytes(le(12).putLong(threads).putInt(args.length).array());
    for (Object a : args) {
      switch (a) {
        case null -> out.writeBytes(le(4).putInt(6).array());
        case HostBuffer h -> {
          int n = Math.toIntExact(h.count());
          ByteBuffer b = le(12 + (long) n * h.type().bytes);
          b.putInt(h.type().ordinal()).putLong(n);
          switch (h.data()) {
            case float[] f -> b.asFloatBuffer().put(f, 0, n);
            case int[] i -> b.asIntBuffer().put(i, 0, n);
            case double[] d -> b.asDoubleBuffer().put(d, 0, n);
            default -> throw new IllegalStateException();
          }
          out.writeBytes(b.array());
        }
        case Integer v -> out.writeBytes(le(8).putInt(3).putInt(v).array());
        case Float v -> out.writeBytes(le(8).putInt(4).putFloat(v).array());
        case Double v -> out.writeBytes(le(12).putInt(5).putDouble(v).array());
        default -> throw new IllegalArgumentException("kernel argument " + a);
      }
    }
    return out.toByteArray();
  }

  @Override
  public long freeBytes() {
    return freeBytes;
  }

  @Override
  public String name() {
    return "optim.cu emulated on the CPU";
  }

  @Override
  public void close() {}

  /** Builds the emulator once per build. */
  static synchronized Path binary() throws IOException, InterruptedException {
    long newest = Math.max(Files.getLastModifiedTime(SOURCE).toMillis(), Files.getLastModifiedTime(KERNEL).toMillis());
    if (Files.exists(BINARY) && Files.getLastModifiedTime(BINARY).toMillis() > newest) {
      return BINARY;
    }
    Files.createDirectories(BINARY.getParent());
    run(List.of("g++", "-std=c++17", "-O1", "-fsanitize=address", "-o", BINARY.toString(), SOURCE.toString()));
    return BINARY;
  }

  private static ByteBuffer le(long n) {
    return ByteBuffer.allocate(Math.toIntExact(n)).order(ByteOrder.LITTLE_ENDIAN);
  }

  private static void run(List<String> command) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String output = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    if (!p.waitFor(5, TimeUnit.MINUTES) || p.exitValue() != 0) {
      throw new IllegalStateException(String.join(" ", command) + " failed:\n" + output);
    }
  }
}
