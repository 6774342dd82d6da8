package io.hiformer.kernels.cuda;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuDriverGetVersion;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemGetInfo;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.driver.JCudaDriver;

/**
 * GPU 0 through JCuda's driver API, with the kernels' PTX loaded: opened once per JVM and shared.
 * {@link #shared()} throws {@link CudaUnavailableException} with the reason where there is no
 * usable GPU (no driver, no device, compute capability below 9.0, PTX that does not load).
 */
public final class CudaDevice {
  /** The PTX resource, built from src/main/cuda by build-ptx.sh. */
  static final String PTX = "hiformer.ptx";
  /** The optimiser kernels of a training step (optim.cu), a module of their own. */
  static final String OPTIM_PTX = "optim.ptx";

  private static Object shared;  // the device, or the reason there is none

  private final CUcontext context;
  private final CUmodule module;
  private final CUmodule optimModule;
  private final String name;
  private final int multiprocessors;
  private final int driverVersion;
  private final Map<String, CUfunction> functions = new HashMap<>();

  private CudaDevice(CUcontext context, CUmodule module, CUmodule optimModule, String name, int multiprocessors,
      int driverVersion) {
    this.context = context;
    this.module = module;
    this.optimModule = optimModule;
    this.name = name;
    this.multiprocessors = multiprocessors;
    this.driverVersion = driverVersion;
  }

  /** The device, opened on first use; the same answer every time. */
  public static synchronized CudaDevice shared() throws CudaUnavailableException {
    if (shared == null) {
      try {
        shared = open();
      } catch (CudaUnavailableException e) {
        shared = e.getMessage();
      }
    }
    if (shared instanceof CudaDevice d) {
      return d;
    }
    throw new CudaUnavailableException((String) shared);
  }

  private static CudaDevice open() throws CudaUnavailableException {
    try {
      JCudaDriver.setExceptionsEnabled(true);
      cuInit(0);
      CUdevice device = new CUdevice();
      cuDeviceGet(device, 0);
      int major = attribute(device, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
      int minor = attribute(device, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
      byte[] nameBytes = new byte[256];
      cuDeviceGetName(nameBytes, nameBytes.length, device);
      String name = new String(nameBytes, StandardCharsets.US_ASCII).trim().replace("\0", "");
      if (major < 9) {
        throw new CudaUnavailableException(name + " has compute capability " + major + "." + minor
            + "; the kernels need 9.0 or newer");
      }
      int sms = attribute(device, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
      int[] version = new int[1];
      cuDriverGetVersion(version);
      CUcontext context = new CUcontext();
      cuDevicePrimaryCtxRetain(context, device);
      cuCtxSetCurrent(context);
      CUmodule module = new CUmodule();
      cuModuleLoadData(module, ptx());
      CUmodule optim = new CUmodule();
      cuModuleLoadData(optim, ptx(OPTIM_PTX));
      return new CudaDevice(context, module, optim, name, sms, version[0]);
    } catch (CudaUnavailableException e) {
      throw e;
    } catch (IOException | RuntimeException | LinkageError e) {
      // no driver library (UnsatisfiedLinkError), no device, or a driver that rejects the PTX
      String message = String.valueOf(e.getMessage());
      if (message.contains("libcuda.so")) {
        throw new CudaUnavailableException("no NVIDIA driver: libcuda.so.1 is not installed");
      }
      throw new CudaUnavailableException(e.getClass().getSimpleName() + ": " + message.lines().findFirst().orElse(""));
    }
  }

  private static int attribute(CUdevice device, int attribute) {
    int[] v = new int[1];
    cuDeviceGetAttribute(v, attribute, device);
    return v[0];
  }

  /** The PTX text, NUL-terminated as cuModuleLoadData wants it. */
  static byte[] ptx() throws IOException {
    return ptx(PTX);
  }

  static byte[] ptx(String resource) throws IOException {
    try (InputStream in = CudaDevice.class.getResourceAsStream(resource)) {
      if (in == null) {
        throw new IOException("resource " + resource + " is missing");
      }
      byte[] text = in.readAllBytes();
      return Arrays.copyOf(text, text.length + 1);
    }
  }

  /** The device's name, e.g. "NVIDIA H200". */
  public String name() {
    return name;
  }

  public int multiprocessors() {
    return multiprocessors;
  }

  /** The driver's CUDA version as major·1000 + minor·10. */
  int driverVersion() {
    return driverVersion;
  }

  /** Bytes of device memory free now (all processes), for checks that a model's memory was returned. */
  public long freeBytes() {
    makeCurrent();
    long[] free = new long[1];
    long[] total = new long[1];
    cuMemGetInfo(free, total);
    return free[0];
  }

  /** Makes this device's context current on the calling thread. */
  void makeCurrent() {
    cuCtxSetCurrent(context);
  }

  synchronized CUfunction function(String kernel) {
    return functions.computeIfAbsent(kernel, k -> {
      CUfunction f = new CUfunction();
      cuModuleGetFunction(f, k.startsWith("hf_") ? optimModule : module, k);
      return f;
    });
  }

  @Override
  public String toString() {
    return name + " (" + multiprocessors + " SMs, driver " + driverVersion / 1000 + "." + driverVersion % 1000 / 10
        + ")";
  }

  /** {@code bytes} of device memory (at least 16, so that an empty buffer still has an address). */
  static CUdeviceptr alloc(long bytes) {
    CUdeviceptr p = new CUdeviceptr();
    cuMemAlloc(p, Math.max(bytes, 16));
    return p;
  }
}
