package io.hiformer.kernels.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.reflect.Method;
import jcuda.NativePointerObject;
import jcuda.driver.CUfunction;

/**
 * How many clusters of a kernel the GPU runs at once, from the driver's
 * {@code cuOccupancyMaxActiveClusters}. A cluster's blocks must share one GPC, so this is less than
 * multiprocessors / cluster size (an H200 runs 30 clusters of 4 blocks on its 132 multiprocessors,
 * 15 of 8): a batch with more clusters than that takes a second wave. JCuda 12.0 does not bind the
 * call, so it goes through the Foreign Function API to the driver library JCuda already loaded.
 */
final class ClusterOccupancy {
  private static final MethodHandle MAX_ACTIVE_CLUSTERS = find();
  private static final Method NATIVE_POINTER = nativePointerAccessor();

  // CUlaunchConfig: seven unsigned ints (grid, block, shared bytes), then the stream, the attributes
  // and their count, each 8-byte aligned
  private static final long CONFIG_BYTES = 56;
  private static final long SHARED_BYTES_OFFSET = 24;

  private ClusterOccupancy() {}

  /**
   * Clusters of {@code cluster} blocks of {@code threads} threads and {@code sharedBytes} of dynamic
   * shared memory each that {@code kernel} (compiled with those cluster dimensions) runs at once, or
   * -1 where the driver cannot say (no such call, or it fails). The device's context must be current.
   */
  static int maxActiveClusters(CUfunction kernel, int cluster, int threads, int sharedBytes) {
    if (MAX_ACTIVE_CLUSTERS == null || NATIVE_POINTER == null) {
      return -1;
    }
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment config = arena.allocate(CONFIG_BYTES, 8);
      int[] dims = {cluster, 1, 1, threads, 1, 1};
      for (int i = 0; i < dims.length; i++) {
        config.set(JAVA_INT, 4L * i, dims[i]);
      }
      config.set(JAVA_INT, SHARED_BYTES_OFFSET, sharedBytes);
      // stream, attributes and their count stay zero (allocate zeroes): the kernel's own
      // __cluster_dims__ give the cluster
      MemorySegment count = arena.allocate(JAVA_INT);
      long function = (long) NATIVE_POINTER.invoke(kernel);
      int status = (int) MAX_ACTIVE_CLUSTERS.invokeExact(count, MemorySegment.ofAddress(function), config);
      return status == 0 ? count.get(JAVA_INT, 0) : -1;
    } catch (Throwable e) {
      return -1;
    }
  }

  private static MethodHandle find() {
    try {
      return SymbolLookup.libraryLookup("libcuda.so.1", Arena.global())
          .find("cuOccupancyMaxActiveClusters")
          .map(address -> Linker.nativeLinker().downcallHandle(address,
              FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS)))
          .orElse(null);
    } catch (RuntimeException | LinkageError e) {  // no driver library: there is no GPU to ask either
      return null;
    }
  }

  // JCuda keeps the CUfunction handle in a protected accessor
  private static Method nativePointerAccessor() {
    try {
      Method m = NativePointerObject.class.getDeclaredMethod("getNativePointer");
      m.setAccessible(true);
      return m;
    } catch (ReflectiveOperationException | RuntimeException e) {
      return null;
    }
  }
}
