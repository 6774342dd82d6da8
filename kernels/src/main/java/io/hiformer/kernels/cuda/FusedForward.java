package io.hiformer.kernels.cuda;

import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;
import static jcuda.driver.JCudaDriver.cuFuncSetAttribute;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuMemsetD32;

import java.util.HashMap;
import java.util.Map;
import java.util.function.ToIntFunction;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUevent;
import jcuda.driver.CUfunction;
import jcuda.driver.CUfunction_attribute;

/**
 * One model version on the GPU: its weights (packed by {@link FusedLayout}) uploaded once, and
 * input and output buffers that grow to the largest batch seen. {@link #close()} frees them all.
 * One batch at a time (the methods are synchronized); the kernel does the rest.
 */
public final class FusedForward implements AutoCloseable {
  private static final int THREADS = 256;  // NTHREADS in hiformer.cu

  private final CudaDevice device;
  private final FusedLayout layout;
  private final Precision precision;
  private final int tasks;
  private final int numCategorical;
  private final int numBag;
  private final int numDense;
  private final long rowFloats;  // L·W: one example's tokens in the layer buffer
  private final long weightBytes;
  private CUdeviceptr desc;
  private CUdeviceptr weights;

  // inputs, the layer buffer and the logits, for up to `capacity` examples and `bagCapacity` bag ids
  private int capacity;
  private int bagCapacity;
  private CUdeviceptr dCat;
  private CUdeviceptr dBagOff;
  private CUdeviceptr dBagIds;
  private CUdeviceptr dDense;
  private CUdeviceptr dX;
  private CUdeviceptr dLogits;
  private final Map<FusedLayout.Variant, Integer> clustersAtOnce = new HashMap<>();
  private final ToIntFunction<FusedLayout.Variant> clustersAtOnceOf = this::clustersAtOnce;  // no allocation a batch
  private final int[] batchArg = new int[1];
  private Pointer params;
  private boolean closed;

  /** Uploads {@code blob} (filled by {@code layout}'s pack methods) and the layout's descriptor. */
  public FusedForward(CudaDevice device, FusedLayout layout, float[] blob) {
    if (blob.length != layout.size()) {
      throw new IllegalArgumentException("weights buffer has " + blob.length + " floats, the layout " + layout.size());
    }
    this.device = device;
    this.layout = layout;
    this.precision = layout.precision();
    FusedShape s = layout.shape();
    this.tasks = s.tasks();
    this.numCategorical = s.numCategorical();
    this.numBag = s.numBag();
    this.numDense = s.numDense();
    this.rowFloats = (long) s.tokens() * layout.width();
    device.makeCurrent();
    long[] d = layout.descriptor();
    this.weightBytes = 4L * blob.length;
    try {
      desc = CudaDevice.alloc(8L * d.length);
      cuMemcpyHtoD(desc, Pointer.to(d), 8L * d.length);
      weights = CudaDevice.alloc(weightBytes);
      cuMemcpyHtoD(weights, Pointer.to(blob), weightBytes);
      for (FusedLayout.Variant v : layout.variants()) {
        CUfunction f = device.function(v.kernelName());
        cuFuncSetAttribute(f, CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, layout.sharedBytes(v));
        if (v.cluster() > 1) {
          int n = ClusterOccupancy.maxActiveClusters(f, v.cluster(), THREADS, layout.sharedBytes(v));
          clustersAtOnce.put(v, n > 0 ? n : FusedLayout.estimatedClustersAtOnce(v.cluster(), device.multiprocessors()));
        }
      }
    } catch (RuntimeException e) {
      free();
      throw e;
    }
  }

  public FusedLayout layout() {
    return layout;
  }

  public Precision precision() {
    return precision;
  }

  public CudaDevice device() {
    return device;
  }

  /** Bytes of weights and tables on the device. */
  public long weightBytes() {
    return weightBytes;
  }

  /** The kernel variant a batch of {@code n} runs with. */
  public FusedLayout.Variant choose(int n) {
    return layout.choose(n, device.multiprocessors(), clustersAtOnceOf);
  }

  /** How many clusters of {@code v} the device runs at once (the driver's count, else an estimate). */
  public int clustersAtOnce(FusedLayout.Variant v) {
    return v.cluster() == 1 ? device.multiprocessors() * v.blocks() : clustersAtOnce.get(v);
  }

  /**
   * Logits {@code [n, T]} of a batch in the encoding of docs/model.md, Expected files: categorical ids
   * {@code [n, #categorical]}, bag offsets {@code [n·#bag + 1]} into {@code bagIds}, dense values
   * {@code [n, D]}. Ids must be in range (the model validates them).
   */
  public synchronized void forward(int n, int[] categorical, int[] bagOffsets, int[] bagIds, float[] denseValues,
      float[] logitsOut) {
    stage(n, categorical, bagOffsets, bagIds, denseValues);
    launch(n, choose(n));
    readLogits(n, logitsOut);
  }

  /** Copies a batch's inputs to the device (for {@link #launch}, which may then run many times). */
  public synchronized void stage(int n, int[] categorical, int[] bagOffsets, int[] bagIds, float[] denseValues) {
    checkOpen();
    if (n <= 0) {
      throw new IllegalArgumentException("batch must hold at least one example, got " + n);
    }
    int ids = bagOffsets[n * numBag];
    device.makeCurrent();
    ensureCapacity(n, ids);
    if (numCategorical > 0) {
      cuMemcpyHtoD(dCat, Pointer.to(categorical), 4L * n * numCategorical);
    }
    cuMemcpyHtoD(dBagOff, Pointer.to(bagOffsets), 4L * (n * numBag + 1));
    if (ids > 0) {
      cuMemcpyHtoD(dBagIds, Pointer.to(bagIds), 4L * ids);
    }
    if (numDense > 0) {
      cuMemcpyHtoD(dDense, Pointer.to(denseValues), 4L * n * numDense);
    }
  }

  /** Runs the staged batch's first {@code n} examples with kernel {@code v} (asynchronously). */
  public synchronized void launch(int n, FusedLayout.Variant v) {
    checkOpen();
    if (n > capacity) {
      throw new IllegalArgumentException("batch of " + n + " exceeds the staged capacity " + capacity);
    }
    device.makeCurrent();
    batchArg[0] = n;
    int grid = (n + v.examples() - 1) / v.examples() * v.cluster();
    cuLaunchKernel(device.function(v.kernelName()), grid, 1, 1, THREADS, 1, 1, layout.sharedBytes(v), null,
        params, null);
  }

  /** Sets every logit on the device to {@code value}, so a check can see which ones a kernel wrote. */
  public synchronized void fillLogits(float value) {
    checkOpen();
    device.makeCurrent();
    cuMemsetD32(dLogits, Float.floatToRawIntBits(value), (long) capacity * tasks);
  }

  /** Waits for the kernel and copies the logits {@code [n, T]} out. */
  public synchronized void readLogits(int n, float[] out) {
    checkOpen();
    device.makeCurrent();
    cuMemcpyDtoH(Pointer.to(out), dLogits, 4L * n * tasks);
  }

  /**
   * Device milliseconds per launch of the staged batch with kernel {@code v}, timed with CUDA
   * events over {@code iterations} launches after {@code warmup} untimed ones.
   */
  public synchronized double millisPerLaunch(int n, FusedLayout.Variant v, int warmup, int iterations) {
    checkOpen();
    device.makeCurrent();
    for (int i = 0; i < warmup; i++) {
      launch(n, v);
    }
    CUevent start = new CUevent();
    CUevent stop = new CUevent();
    cuEventCreate(start, 0);
    cuEventCreate(stop, 0);
    try {
      cuEventRecord(start, null);
      for (int i = 0; i < iterations; i++) {
        launch(n, v);
      }
      cuEventRecord(stop, null);
      cuEventSynchronize(stop);
      float[] ms = new float[1];
      cuEventElapsedTime(ms, start, stop);
      return ms[0] / iterations;
    } finally {
      cuEventDestroy(start);
      cuEventDestroy(stop);
    }
  }

  private void ensureCapacity(int n, int ids) {
    if (n <= capacity && ids <= bagCapacity) {
      return;
    }
    int newCapacity = Math.max(n, capacity);
    int newBag = Math.max(Math.max(ids, bagCapacity), 1);
    freeBuffers();
    // every tile is whole in the layer buffer: 32 examples is the largest tile
    long rows = (newCapacity + 31L) / 32 * 32;
    dCat = CudaDevice.alloc(4L * newCapacity * numCategorical);
    dBagOff = CudaDevice.alloc(4L * ((long) newCapacity * numBag + 1));
    dBagIds = CudaDevice.alloc(4L * newBag);
    dDense = CudaDevice.alloc(4L * newCapacity * numDense);
    dX = CudaDevice.alloc(4L * rows * rowFloats);
    dLogits = CudaDevice.alloc(4L * newCapacity * tasks);
    capacity = newCapacity;
    bagCapacity = newBag;
    params = Pointer.to(Pointer.to(desc), Pointer.to(weights), Pointer.to(dCat), Pointer.to(dBagOff),
        Pointer.to(dBagIds), Pointer.to(dDense), Pointer.to(dX), Pointer.to(dLogits), Pointer.to(batchArg));
  }

  private void checkOpen() {
    if (closed) {
      throw new IllegalStateException("closed");
    }
  }

  /** Frees the weights, tables and buffers on the device. */
  @Override
  public synchronized void close() {
    if (!closed) {
      closed = true;
      device.makeCurrent();
      free();
    }
  }

  private void free() {
    freeBuffers();
    for (CUdeviceptr p : new CUdeviceptr[] {desc, weights}) {
      if (p != null) {
        cuMemFree(p);
      }
    }
    desc = weights = null;
  }

  private void freeBuffers() {
    for (CUdeviceptr p : new CUdeviceptr[] {dCat, dBagOff, dBagIds, dDense, dX, dLogits}) {
      if (p != null) {
        cuMemFree(p);
      }
    }
    dCat = dBagOff = dBagIds = dDense = dX = dLogits = null;
    capacity = 0;
    bagCapacity = 0;
  }
}
