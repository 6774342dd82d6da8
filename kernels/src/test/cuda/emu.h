// The device primitives of kernels/src/main/cuda/prims.cuh on the CPU, for checking the fused
// kernel without a GPU: every CUDA thread is a fiber, warp operations (mma, shuffles) exchange
// values between the 32 fibers of a warp at a warp barrier, shared memory is one heap buffer per
// block (so AddressSanitizer sees every out-of-bounds access), and the tensor-core product is
// computed from the fragment layout of the PTX ISA. Timing means nothing here; results do.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#define __device__
#define __global__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __cluster_dims__(...)

struct float4 {
  float x, y, z, w;
};
struct float2 {
  float x, y;
};
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
inline float2 make_float2(float x, float y) { return float2{x, y}; }
using std::max;
using std::min;

namespace emu {

struct Barrier {
  int count = 0;
  long generation = 0;
};

struct Block {
  float* smem = nullptr;
  Barrier warps[8];
  Barrier block;
  uint32_t a[8][32][4];
  uint32_t b[8][32][2];
  float f[8][32];
};

struct Fiber;
extern Fiber* current;
extern Block* blocks;  // the blocks of the running cluster
extern Barrier cluster;
extern int clusterThreads;
int thread_index();
int block_index();
int block_in_cluster();
void wait(Barrier& b, int parties);
void arrive(Barrier& b, int parties);
void wait_arrived(Barrier& b);

inline Block& my_block() { return blocks[block_in_cluster()]; }

inline float tf32_value(uint32_t bits) {
  uint32_t t = bits & 0xffffe000u;  // the tensor cores read 19 bits: sign, exponent, 10 of mantissa
  float f;
  std::memcpy(&f, &t, 4);
  return f;
}

}  // namespace emu

namespace hf {

inline float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline uint32_t float_bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}

inline void mma_tf32(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                     uint32_t b1) {
  emu::Block& blk = emu::my_block();
  const int tid = emu::thread_index();
  const int w = tid >> 5;
  const int lane = tid & 31;
  uint32_t* a = blk.a[w][lane];
  a[0] = a0;
  a[1] = a1;
  a[2] = a2;
  a[3] = a3;
  blk.b[w][lane][0] = b0;
  blk.b[w][lane][1] = b1;
  emu::wait(blk.warps[w], 32);
  const int g = lane >> 2;
  const int t = lane & 3;
  float out[4];
  for (int c = 0; c < 4; ++c) {
    const int row = g + (c >= 2 ? 8 : 0);
    const int col = 2 * t + (c & 1);
    double s = 0;
    for (int k = 0; k < 8; ++k) {
      // A[row][k]: lane (row % 8, k % 4), register (row >= 8) + 2 (k >= 4); B[k][col]: lane (col, k % 4)
      const float av = emu::tf32_value(blk.a[w][(row % 8) * 4 + (k % 4)][(row >= 8 ? 1 : 0) + (k >= 4 ? 2 : 0)]);
      const float bv = emu::tf32_value(blk.b[w][col * 4 + (k % 4)][k >= 4 ? 1 : 0]);
      s += (double) av * (double) bv;
    }
    out[c] = (float) ((double) d[c] + s);
  }
  emu::wait(blk.warps[w], 32);
  for (int c = 0; c < 4; ++c) d[c] = out[c];
}

inline float4 ldg4(const float* p) { return *reinterpret_cast<const float4*>(p); }
inline float4 ld_stream4(const float* p) { return *reinterpret_cast<const float4*>(p); }
inline void st_stream4(float* p, float4 v) { *reinterpret_cast<float4*>(p) = v; }
inline void st_stream2(float* p, float2 v) { *reinterpret_cast<float2*>(p) = v; }
inline void st_stream1(float* p, float v) { *p = v; }
inline float2 ldg2(const float* p) { return *reinterpret_cast<const float2*>(p); }
inline float ldg1(const float* p) { return *p; }
inline long long ldgl(const long long* p) { return *p; }

inline float shfl_xor(float v, int mask) {
  emu::Block& blk = emu::my_block();
  const int tid = emu::thread_index();
  const int w = tid >> 5;
  const int lane = tid & 31;
  blk.f[w][lane] = v;
  emu::wait(blk.warps[w], 32);
  const float r = blk.f[w][lane ^ mask];
  emu::wait(blk.warps[w], 32);
  return r;
}

inline void sync_warp() { emu::wait(emu::my_block().warps[emu::thread_index() >> 5], 32); }
inline void sync_block() { emu::wait(emu::my_block().block, 256); }

template <int CS>
inline void sync_cluster() {
  if constexpr (CS == 1) {
    sync_block();
  } else {
    emu::wait(emu::cluster, emu::clusterThreads);
  }
}

template <int CS>
inline void cluster_arrive() {
  if constexpr (CS == 1) {
    sync_block();
  } else {
    emu::arrive(emu::cluster, emu::clusterThreads);
  }
}

template <int CS>
inline void cluster_wait() {
  if constexpr (CS > 1) emu::wait_arrived(emu::cluster);
}

template <int CS>
inline unsigned cluster_rank() {
  return CS == 1 ? 0u : (unsigned) emu::block_in_cluster();
}

inline float* remote(float* p, unsigned rank) { return emu::blocks[rank].smem + (p - emu::my_block().smem); }

inline float fast_exp2(float x) { return std::exp2(x); }
inline float fast_div(float a, float b) { return a / b; }
inline float rsqrt(float x) { return 1.f / std::sqrt(x); }
inline float* shared_floats() { return emu::my_block().smem; }

}  // namespace hf

#define HF_THREAD_X (emu::thread_index())
#define HF_BLOCK_X (emu::block_index())
#define HF_NOINLINE inline
