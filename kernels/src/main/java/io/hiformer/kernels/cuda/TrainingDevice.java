package io.hiformer.kernels.cuda;

/**
 * The memory and kernel launches a training step's optimiser needs: the GPU
 * ({@link CudaTrainingDevice}) or, in tests, the kernels of optim.cu compiled for the CPU. Buffers
 * hold floats, ints or doubles; kernels run on blocks of {@link #THREADS} threads.
 */
public interface TrainingDevice extends AutoCloseable {
  int THREADS = 256;

  /** Element types of a buffer. */
  enum Type {
    FLOAT(4), INT(4), DOUBLE(8);

    public final int bytes;

    Type(int bytes) {
      this.bytes = bytes;
    }
  }

  /** A buffer on the device. */
  interface Buffer {
    Type type();

    long count();
  }

  Buffer alloc(Type type, long count);

  void free(Buffer buffer);

  /** Copies {@code count} elements of {@code host} (a float[], int[] or double[] of the buffer's type) in. */
  void upload(Buffer buffer, Object host, long count);

  /** Copies the first {@code count} elements out into {@code host}; waits for the kernels before. */
  void download(Buffer buffer, Object host, long count);

  /** Sets the first {@code count} elements to zero. */
  void zero(Buffer buffer, long count);

  /**
   * Launches {@code kernel} over at least {@code threads} threads, in blocks of {@link #THREADS};
   * each argument is a {@link Buffer}, an Integer, a Float, a Double or null (a null pointer).
   */
  void launch(String kernel, long threads, Object... args);

  /** Bytes of device memory free now. */
  long freeBytes();

  String name();

  /** Frees every buffer still allocated. */
  @Override
  void close();
}
