// Device primitives the fused forward is written against. kernels/src/test/cuda/emu.h implements
// the same names on the CPU (one fiber per thread), so the kernel's index arithmetic can be
// checked on machines without a GPU.
#pragma once
#include <cooperative_groups.h>
#include <cstdint>

namespace hf {

// D = A·B + D for one 16x8x8 tile; A, B in tf32, D in fp32 (PTX ISA, mma.m16n8k8 fragments).
__device__ __forceinline__ void mma_tf32(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                         uint32_t b0, uint32_t b1) {
  asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// Weights: every tile reads all of them, so they are asked to stay in L2 (evict_last) ahead of the
// data that streams through it once (embedding rows, the residual rows of finished tiles). They skip
// L1: no tile reads a weight twice, and what the shared memory leaves of L1 is better kept for the rest.
__device__ __forceinline__ float4 ldg4(const float* p) {
  unsigned long long keep;
  asm("createpolicy.fractional.L2::evict_last.b64 %0, 1.0;" : "=l"(keep));
  float4 v;
  asm("ld.global.nc.L1::no_allocate.L2::cache_hint.v4.f32 {%0,%1,%2,%3}, [%4], %5;"
      : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w)
      : "l"(p), "l"(keep));
  return v;
}
// Streaming data, read or written once per tile: first out of L2 (evict_first).
__device__ __forceinline__ float4 ld_stream4(const float* p) { return __ldcs(reinterpret_cast<const float4*>(p)); }
__device__ __forceinline__ void st_stream4(float* p, float4 v) { __stcs(reinterpret_cast<float4*>(p), v); }
__device__ __forceinline__ void st_stream2(float* p, float2 v) { __stcs(reinterpret_cast<float2*>(p), v); }
__device__ __forceinline__ void st_stream1(float* p, float v) { __stcs(p, v); }
__device__ __forceinline__ float2 ldg2(const float* p) { return __ldg(reinterpret_cast<const float2*>(p)); }
__device__ __forceinline__ float ldg1(const float* p) { return __ldg(p); }
__device__ __forceinline__ long long ldgl(const long long* p) { return __ldg(p); }

__device__ __forceinline__ float shfl_xor(float v, int mask) { return __shfl_xor_sync(0xffffffffu, v, mask); }
__device__ __forceinline__ void sync_warp() { __syncwarp(); }
__device__ __forceinline__ void sync_block() { __syncthreads(); }

template <int CS>
__device__ __forceinline__ void sync_cluster() {
  if constexpr (CS == 1) {
    __syncthreads();
  } else {
    cooperative_groups::this_cluster().sync();
  }
}

// A cluster barrier in two halves: a thread arrives once the others may overwrite what it has read, and
// waits before it reads or overwrites what they arrive with; work in between hides the barrier.
template <int CS>
__device__ __forceinline__ void cluster_arrive() {
  if constexpr (CS == 1) {
    __syncthreads();
  } else {
    asm volatile("barrier.cluster.arrive.release.aligned;" ::: "memory");
  }
}

template <int CS>
__device__ __forceinline__ void cluster_wait() {
  if constexpr (CS > 1) asm volatile("barrier.cluster.wait.acquire.aligned;" ::: "memory");
}

template <int CS>
__device__ __forceinline__ unsigned cluster_rank() {
  if constexpr (CS == 1) {
    return 0;
  } else {
    return cooperative_groups::this_cluster().block_rank();
  }
}

// The same shared-memory location in block `rank` of this cluster.
__device__ __forceinline__ float* remote(float* p, unsigned rank) {
  return cooperative_groups::this_cluster().map_shared_rank(p, rank);
}

__device__ __forceinline__ float fast_exp2(float x) { return exp2f(x); }
__device__ __forceinline__ float fast_div(float a, float b) { return __fdividef(a, b); }
__device__ __forceinline__ float rsqrt(float x) { return rsqrtf(x); }
__device__ __forceinline__ float bits_to_float(uint32_t u) { return __uint_as_float(u); }
__device__ __forceinline__ uint32_t float_bits(float x) { return __float_as_uint(x); }

__device__ __forceinline__ float* shared_floats() {
  extern __shared__ float4 hf_shared[];
  return reinterpret_cast<float*>(hf_shared);
}

}  // namespace hf

#define HF_THREAD_X threadIdx.x
#define HF_BLOCK_X blockIdx.x
#define HF_NOINLINE __device__ __noinline__
