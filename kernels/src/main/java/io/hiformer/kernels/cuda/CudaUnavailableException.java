package io.hiformer.kernels.cuda;

/** No usable GPU; the message says why (for the one log line of the CPU fallback). */
public final class CudaUnavailableException extends Exception {
  public CudaUnavailableException(String reason) {
    super(reason);
  }
}
