/**
 * CPU numeric kernels on flat row-major float arrays, addressed by offset and leading dimension:
 * they know shapes, not models.
 *
 * <p>Entry points: {@link io.hiformer.kernels.CpuKernels} ({@link
 * io.hiformer.kernels.CpuKernels#best()} is the Vector API implementation where the JVM has
 * {@code jdk.incubator.vector}, else the scalar reference, chosen once per JVM; {@link
 * io.hiformer.kernels.CpuKernels#scalar()} is the reference that sums in double; {@link
 * io.hiformer.kernels.CpuKernels#simd()} forces the Vector API) and {@link
 * io.hiformer.kernels.Attention}, multi-head attention forward and backward on a given {@code
 * CpuKernels}. The implementations ({@code ScalarKernels}, {@code SimdKernels}, {@code SimdGemm})
 * and the selector are package-private.
 *
 * <p>Callers: the {@code model} module runs the kernels; {@code ranker} and {@code training}
 * only choose which {@code CpuKernels} a model uses (docs/architecture.md, rule 4).
 */
package io.hiformer.kernels;
