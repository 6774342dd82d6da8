/**
 * The fused CUDA forward pass: one kernel runs a whole Hiformer forward (PTX shipped as a
 * resource, driven through JCuda's driver API).
 *
 * <p>For the {@code model} module: {@link io.hiformer.kernels.cuda.CudaDevice#shared()} opens GPU
 * 0 once per JVM (or throws {@link io.hiformer.kernels.cuda.CudaUnavailableException} saying why
 * there is none), {@link io.hiformer.kernels.cuda.FusedShape} and {@link
 * io.hiformer.kernels.cuda.FusedLayout} describe and pack a model's weights, and {@link
 * io.hiformer.kernels.cuda.FusedForward} holds one model version on the device and runs batches.
 * Other modules touch only {@link io.hiformer.kernels.cuda.Precision} and {@link
 * io.hiformer.kernels.cuda.CudaUnavailableException}, to choose a backend (docs/architecture.md,
 * rule 4). The occupancy query is package-private.
 */
package io.hiformer.kernels.cuda;
