package io.hiformer.kernels.cuda;

import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuMemsetD32;

import java.util.LinkedHashSet;
import java.util.Set;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

/** {@link TrainingDevice} on the GPU through JCuda's driver API, on the default stream. */
public final class CudaTrainingDevice implements TrainingDevice {
  private final CudaDevice device;
  private final Set<CudaBuffer> live = new LinkedHashSet<>();

  /** A device allocation. */
  public record CudaBuffer(Type type, long count, CUdeviceptr pointer) implements Buffer {}

  public CudaTrainingDevice(CudaDevice device) {
    this.device = device;
  }

  public CudaDevice device() {
    return device;
  }

  /** The device pointer of {@code buffer}, for kernels launched elsewhere (the forward and backward). */
  public static CUdeviceptr pointer(Buffer buffer) {
    return ((CudaBuffer) buffer).pointer();
  }

  @Override
  public synchronized Buffer alloc(Type type, long count) {
    device.makeCurrent();
    CUdeviceptr p = new CUdeviceptr();
    cuMemAlloc(p, Math.max(16, count * type.bytes));
    CudaBuffer b = new CudaBuffer(type, count, p);
    live.add(b);
    return b;
  }

  @Override
  public synchronized void free(Buffer buffer) {
    if (buffer != null && live.remove((CudaBuffer) buffer)) {
      device.makeCurrent();
      cuMemFree(pointer(buffer));
    }
  }

  @Override
  public void upload(Buffer buffer, Object host, long count) {
    check(buffer, count);
    device.makeCurrent();
    if (count > 0) {
      cuMemcpyHtoD(pointer(buffer), hostPointer(host), count * buffer.type().bytes);
    }
  }

  @Override
  public void download(Buffer buffer, Object host, long count) {
    check(buffer, count);
    device.makeCurrent();
    if (count > 0) {
      cuMemcpyDtoH(hostPointer(host), pointer(buffer), count * buffer.type().bytes);
    }
  }

  @Override
  public void zero(Buffer buffer, long count) {
    check(buffer, count);
    device.makeCurrent();
    if (count > 0) {
      cuMemsetD32(pointer(buffer), 0, count * buffer.type().bytes / 4);
    }
  }

  @Override
  public void launch(String kernel, long threads, Object... args) {
    if (threads <= 0) {
      return;
    }
    device.makeCurrent();
    Pointer[] p = new Pointer[args.length];
    for (int i = 0; i < args.length; i++) {
      p[i] = switch (args[i]) {
        case null -> Pointer.to(new CUdeviceptr());
        case Buffer b -> Pointer.to(pointer(b));
        case Integer v -> Pointer.to(new int[] {v});
        case Float v -> Pointer.to(new float[] {v});
        case Double v -> Pointer.to(new double[] {v});
        default -> throw new IllegalArgumentException("kernel argument " + args[i]);
      };
    }
    long grid = (threads + THREADS - 1) / THREADS;
    cuLaunchKernel(device.function(kernel), Math.toIntExact(grid), 1, 1, THREADS, 1, 1, 0, null, Pointer.to(p), null);
  }

  /** Waits for every launched kernel. */
  public void synchronize() {
    device.makeCurrent();
    cuCtxSynchronize();
  }

  @Override
  public long freeBytes() {
    return device.freeBytes();
  }

  @Override
  public String name() {
    return device.name();
  }

  @Override
  public synchronized void close() {
    for (CudaBuffer b : live.toArray(new CudaBuffer[0])) {
      free(b);
    }
  }

  private static void check(Buffer buffer, long count) {
    if (count < 0 || count > buffer.count()) {
      throw new IllegalArgumentException(count + " elements outside a buffer of " + buffer.count());
    }
  }

  private static Pointer hostPointer(Object host) {
    return switch (host) {
      case float[] f -> Pointer.to(f);
      case int[] i -> Pointer.to(i);
      case double[] d -> Pointer.to(d);
      default -> throw new IllegalArgumentException("host array of " + host.getClass());
    };
  }
}
