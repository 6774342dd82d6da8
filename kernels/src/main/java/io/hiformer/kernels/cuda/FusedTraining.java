package io.hiformer.kernels.cuda;

import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;

import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

/**
 * Training steps on the GPU for one model shape (kernels/README.md, "Training kernels"): the
 * forward pass with its activations saved, the loss, the backward pass and the gradients, in two
 * launches ({@code hf_train_step}, {@code hf_train_grads}). The caller owns the weights (packed by
 * {@link FusedLayout} at {@link Precision#FP32}), the dense gradients (a buffer of the same layout and
 * size) and {@code dEmb}; this class owns the inputs it copies over and the per-example scratch,
 * which grow to the largest batch seen. {@link #close()} frees them.
 */
public final class FusedTraining implements AutoCloseable {
  private static final int THREADS = 256;

  private final CudaDevice device;
  private final TrainingLayout training;
  private final int tasks;
  private final int numCategorical;
  private final int numBag;
  private final int numDense;
  private CUdeviceptr desc;
  private CUdeviceptr segs;

  private int capacity;
  private int bagCapacity;
  private CUdeviceptr dCat;
  private CUdeviceptr dBagOff;
  private CUdeviceptr dBagIds;
  private CUdeviceptr dDense;
  private CUdeviceptr dLabels;
  private CUdeviceptr dMask;
  private CUdeviceptr dAct;
  private CUdeviceptr dGrad;
  private CUdeviceptr dLogits;
  private CUdeviceptr dLoss;
  private final float[] lossOut;
  private boolean closed;

  /** Uploads the layout's descriptor and segment table; {@code layout} must be {@link Precision#FP32}. */
  public FusedTraining(CudaDevice device, FusedLayout layout) {
    if (layout.precision() != Precision.FP32) {
      throw new IllegalArgumentException("training runs in fp32; the layout is " + layout.precision());
    }
    this.device = device;
    this.training = new TrainingLayout(layout);
    FusedShape s = layout.shape();
    this.tasks = s.tasks();
    this.numCategorical = s.numCategorical();
    this.numBag = s.numBag();
    this.numDense = s.numDense();
    this.lossOut = new float[tasks];
    device.makeCurrent();
    try {
      long[] d = layout.descriptor();
      desc = CudaDevice.alloc(8L * d.length);
      cuMemcpyHtoD(desc, Pointer.to(d), 8L * d.length);
      int[] table = training.segments();
      segs = CudaDevice.alloc(4L * table.length);
      cuMemcpyHtoD(segs, Pointer.to(table), 4L * table.length);
      dLoss = CudaDevice.alloc(4L * tasks);
    } catch (RuntimeException e) {
      close();
      throw e;
    }
  }

  public TrainingLayout trainingLayout() {
    return training;
  }

  /**
   * One training step's gradients on a batch of {@code n} examples, inputs in the encoding of
   * {@link FusedForward#forward} plus labels and label masks {@code [n, T]}; ids must be in range (the
   * model's {@code Batch.validate} checks them: the kernel reads the table rows they name). Writes (or, with
   * {@code accumulate}, adds) d loss / d parameter of every dense parameter into {@code denseGrads}
   * at the weights' packed offsets (padding lanes 0; alignment gaps and the embedding tables'
   * region are never written), and the gradient of each embedded field's pooled vector into
   * {@code dEmb} {@code [n, nemb, d]}; the loss is {@code Σ mask·BCE / lossBatch}, as
   * {@code Hiformer.loss} with batchSize = {@code lossBatch}. Returns the loss (summed over tasks),
   * which waits for the step to finish.
   */
  public synchronized double forwardBackward(int n, int[] categorical, int[] bagOffsets, int[] bagIds,
      float[] denseValues, float[] labels, float[] labelMask, int lossBatch, Pointer weights, Pointer denseGrads,
      Pointer dEmb, boolean accumulate) {
    launch(n, categorical, bagOffsets, bagIds, denseValues, labels, labelMask, lossBatch, weights, denseGrads, dEmb,
        accumulate);
    cuMemcpyDtoH(Pointer.to(lossOut), dLoss, 4L * tasks);
    double loss = 0;
    for (float v : lossOut) {
      loss += v;
    }
    return loss;
  }

  /** {@link #forwardBackward} without waiting: copies the inputs and launches both kernels. */
  public synchronized void launch(int n, int[] categorical, int[] bagOffsets, int[] bagIds, float[] denseValues,
      float[] labels, float[] labelMask, int lossBatch, Pointer weights, Pointer denseGrads, Pointer dEmb,
      boolean accumulate) {
    checkOpen();
    if (n <= 0) {
      throw new IllegalArgumentException("batch must hold at least one example, got " + n);
    }
    if (lossBatch <= 0) {
      throw new IllegalArgumentException("lossBatch must be positive, got " + lossBatch);
    }
    requireLength("categorical", categorical.length, (long) n * numCategorical);
    requireLength("bagOffsets", bagOffsets.length, (long) n * numBag + 1);
    requireLength("dense", denseValues.length, (long) n * numDense);
    requireLength("labels", labels.length, (long) n * tasks);
    requireLength("labelMask", labelMask.length, (long) n * tasks);
    int ids = bagOffsets[n * numBag];
    requireLength("bagIds", bagIds.length, ids);
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
    cuMemcpyHtoD(dLabels, Pointer.to(labels), 4L * n * tasks);
    cuMemcpyHtoD(dMask, Pointer.to(labelMask), 4L * n * tasks);
    long strideA = training.activationFloats();
    long strideG = training.gradientFloats();
    Pointer step = Pointer.to(Pointer.to(desc), Pointer.to(weights), Pointer.to(dCat), Pointer.to(dBagOff),
        Pointer.to(dBagIds), Pointer.to(dDense), Pointer.to(dLabels), Pointer.to(dMask), Pointer.to(dAct),
        Pointer.to(dGrad), Pointer.to(dLogits), Pointer.to(dEmb), Pointer.to(new long[] {strideA}),
        Pointer.to(new long[] {strideG}), Pointer.to(new int[] {lossBatch}));
    cuLaunchKernel(device.function("hf_train_step"), n, 1, 1, THREADS, 1, 1, 0, null, step, null);
    int bps = training.blocksPerSegment();
    Pointer grads = Pointer.to(Pointer.to(desc), Pointer.to(segs), Pointer.to(dDense), Pointer.to(dAct),
        Pointer.to(dGrad), Pointer.to(denseGrads), Pointer.to(dLoss), Pointer.to(new long[] {strideA}),
        Pointer.to(new long[] {strideG}), Pointer.to(new int[] {n}), Pointer.to(new int[] {lossBatch}),
        Pointer.to(new int[] {accumulate ? 1 : 0}), Pointer.to(new int[] {bps}));
    cuLaunchKernel(device.function("hf_train_grads"), training.segmentCount() * bps, 1, 1, THREADS, 1, 1, 0, null,
        grads, null);
  }

  /**
   * Everything one step produces, read back to the host: logits {@code [n, T]}, the loss per task,
   * {@code dEmb [n, nemb, d]}, the packed gradients and the saved activations. For checks such as
   * {@code hiformer verify --backend cuda}, not for the training loop: it uploads the weights and
   * allocates the caller's buffers itself, then frees them.
   */
  public record HostStep(float[] logits, float[] loss, float[] dEmb, float[] grads, float[] activations) {}

  /** {@link #forwardBackward} on host arrays (see {@link HostStep}), {@code lossBatch = n}. */
  public synchronized HostStep runOnHost(int n, int[] categorical, int[] bagOffsets, int[] bagIds,
      float[] denseValues, float[] labels, float[] labelMask, float[] packedWeights) {
    checkOpen();
    FusedLayout layout = training.layout();
    if (packedWeights.length != layout.size()) {
      throw new IllegalArgumentException("weights buffer has " + packedWeights.length + " floats, the layout "
          + layout.size());
    }
    device.makeCurrent();
    int nemb = layout.shape().fieldSlots().length;
    CUdeviceptr w = null;
    CUdeviceptr g = null;
    CUdeviceptr e = null;
    try {
      w = CudaDevice.alloc(4L * packedWeights.length);
      cuMemcpyHtoD(w, Pointer.to(packedWeights), 4L * packedWeights.length);
      g = CudaDevice.alloc(4L * packedWeights.length);
      jcuda.driver.JCudaDriver.cuMemsetD32(g, 0, packedWeights.length);
      e = CudaDevice.alloc(4L * n * nemb * layout.d);
      forwardBackward(n, categorical, bagOffsets, bagIds, denseValues, labels, labelMask, n, w, g, e, false);
      float[] grads = new float[packedWeights.length];
      cuMemcpyDtoH(Pointer.to(grads), g, 4L * grads.length);
      float[] dEmb = new float[n * nemb * layout.d];
      cuMemcpyDtoH(Pointer.to(dEmb), e, 4L * dEmb.length);
      float[] logits = new float[n * tasks];
      readLogits(n, logits);
      float[] act = new float[n * training.activationFloats()];
      readActivations(n, act);
      return new HostStep(logits, lossOut.clone(), dEmb, grads, act);
    } finally {
      for (CUdeviceptr p : new CUdeviceptr[] {w, g, e}) {
        if (p != null) {
          cuMemFree(p);
        }
      }
    }
  }

  private static void requireLength(String what, int length, long needed) {
    if (length < needed) {
      throw new IllegalArgumentException(what + " holds " + length + " values, the batch needs " + needed);
    }
  }

  /** The last step's logits {@code [n, T]}. */
  public synchronized void readLogits(int n, float[] out) {
    checkOpen();
    device.makeCurrent();
    cuMemcpyDtoH(Pointer.to(out), dLogits, 4L * n * tasks);
  }

  /** The last step's saved activations, {@link TrainingLayout#activationFloats()} an example. */
  public synchronized void readActivations(int n, float[] out) {
    checkOpen();
    device.makeCurrent();
    cuMemcpyDtoH(Pointer.to(out), dAct, 4L * n * training.activationFloats());
  }

  /** Bytes of device scratch one example takes (saved activations and intermediate gradients). */
  public long scratchBytesPerExample() {
    return 4L * (training.activationFloats() + training.gradientFloats());
  }

  private void ensureCapacity(int n, int ids) {
    if (n <= capacity && ids <= bagCapacity) {
      return;
    }
    int newCapacity = Math.max(n, capacity);
    int newBag = Math.max(Math.max(ids, bagCapacity), 1);
    freeBuffers();
    dCat = CudaDevice.alloc(4L * newCapacity * numCategorical);
    dBagOff = CudaDevice.alloc(4L * ((long) newCapacity * numBag + 1));
    dBagIds = CudaDevice.alloc(4L * newBag);
    dDense = CudaDevice.alloc(4L * newCapacity * numDense);
    dLabels = CudaDevice.alloc(4L * newCapacity * tasks);
    dMask = CudaDevice.alloc(4L * newCapacity * tasks);
    dAct = CudaDevice.alloc(4L * newCapacity * training.activationFloats());
    dGrad = CudaDevice.alloc(4L * newCapacity * training.gradientFloats());
    dLogits = CudaDevice.alloc(4L * newCapacity * tasks);
    capacity = newCapacity;
    bagCapacity = newBag;
  }

  private void checkOpen() {
    if (closed) {
      throw new IllegalStateException("closed");
    }
  }

  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    device.makeCurrent();
    freeBuffers();
    for (CUdeviceptr p : new CUdeviceptr[] {desc, segs, dLoss}) {
      if (p != null) {
        cuMemFree(p);
      }
    }
    desc = segs = dLoss = null;
  }

  private void freeBuffers() {
    for (CUdeviceptr p : new CUdeviceptr[] {dCat, dBagOff, dBagIds, dDense, dLabels, dMask, dAct, dGrad, dLogits}) {
      if (p != null) {
        cuMemFree(p);
      }
    }
    dCat = dBagOff = dBagIds = dDense = dLabels = dMask = dAct = dGrad = dLogits = null;
    capacity = 0;
    bagCapacity = 0;
  }
}
