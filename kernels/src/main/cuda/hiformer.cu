// The Hiformer forward pass (docs/model.md) as one fused kernel per batch.
//
// A block owns a tile of EX examples and carries it through every layer: the tile's tokens live in
// shared memory, weights stream from L2 straight into registers in the order the tensor cores want
// them (packed that way once, at upload: FusedLayout.java), and only each layer's output goes back
// to global memory (for the residual and the next layer). One launch runs embeddings, all layers
// and the towers. With CS > 1 a cluster of CS blocks shares one tile: every block holds the whole
// tile, each computes a share of every product and writes it into all blocks' shared memory, so
// small batches still spread over the chip.
//
// Products run on the tensor cores (mma.m16n8k8, tf32 in, fp32 accumulate). PREC = 3 splits each
// operand into a tf32 head and tail and sums tail·head + head·tail + head·head, which keeps fp32
// accuracy (3xTF32): weights (plain fp32 from L2) and activations alike are split here (head
// rounded, tail passed whole: the tensor cores read its top 19 bits). PREC = 1 is
// plain tf32: weights rounded by the host, activations truncated by the tensor cores. Rows of a
// product are examples (16 per m-tile), columns are output features (8 per n-tile).
//
// Shapes are padded by the host so every product has K a multiple of 16 and N a multiple of 8:
// token features to W (a template: 16, 32 or 64), each head to dhp (a multiple of 8) and ranks and
// the FFN width to multiples of 16; padding weights are zero, so padding lanes stay zero. LayerNorm
// divides by the real d and skips padding features in the variance.
#ifdef HF_EMULATE
#include "emu.h"
#else
#include "prims.cuh"
#endif

namespace hf {

// ---- descriptor: int64 slots written by FusedLayout.java (keep the two in step) --------------
enum : int {
  D_D, D_W, D_HEADS, D_DH, D_DHP, D_L, D_T, D_LAYERS, D_RKP, D_RVP, D_FP, D_NEMB, D_NCAT, D_NBAG,
  D_NDENSE, D_DT, D_TDEPTH, D_TWMAX, D_DENSE_W, D_DENSE_B, D_TASK, D_FINAL_G, D_FINAL_B, D_SCALE,
  D_LAYER_BASE, D_FIELD_BASE, D_TOWER_BASE, D_HEADER = 32
};
// per layer, at D_LAYER_BASE + 16 * layer; offsets are in floats into the weights buffer
enum : int {
  L_R, L_LN1G, L_LN1B, L_WQ, L_UCAT, L_VK, L_VV, L_WO, L_LN2G, L_LN2B, L_W1, L_B1, L_W2, L_B2,
  L_STRIDE = 16
};
// per embedded field, at D_FIELD_BASE + 2 * field: slot (categorical index, or -1 - bag index), table
// towers, at D_TOWER_BASE: widths[0..depth] (widths[0] = d), then per task j and layer k, at
// D_TOWER_BASE + depth + 1 + 2 * (j * depth + k): weight, bias

constexpr int NWARP = 8;
constexpr int NTHREADS = NWARP * 32;
constexpr float LN_EPS = 1e-5f;

// Row strides in shared memory. 16 (mod 32) floats makes the 16-byte A-fragment loads of a warp
// conflict-free; 8 (mod 32) does the same for the 8-byte fragment stores of keys and values.
__device__ __forceinline__ int stride16(int n) { return ((n + 16 + 31) / 32) * 32 - 16; }
__device__ __forceinline__ int stride8(int n) { return ((n + 24 + 31) / 32) * 32 - 24; }

struct Dims {
  int d, heads, dh, dhp, L, T, layers, rkp, rvp, np, fp, nemb, ncat, nbag, ndense, dt, tdepth, twmax;
  float scale;
  int sz, sp, skv;
  int layerBase, fieldBase, towerBase;
};

__device__ __forceinline__ int dget(const long long* desc, int i) { return (int) ldgl(desc + i); }

__device__ inline Dims load_dims(const long long* desc) {
  Dims m;
  m.d = dget(desc, D_D);
  m.heads = dget(desc, D_HEADS);
  m.dh = dget(desc, D_DH);
  m.dhp = dget(desc, D_DHP);
  m.L = dget(desc, D_L);
  m.T = dget(desc, D_T);
  m.layers = dget(desc, D_LAYERS);
  m.rkp = dget(desc, D_RKP);
  m.rvp = dget(desc, D_RVP);
  m.np = m.rkp + m.rvp;
  m.fp = dget(desc, D_FP);
  m.nemb = dget(desc, D_NEMB);
  m.ncat = dget(desc, D_NCAT);
  m.nbag = dget(desc, D_NBAG);
  m.ndense = dget(desc, D_NDENSE);
  m.dt = dget(desc, D_DT);
  m.tdepth = dget(desc, D_TDEPTH);
  m.twmax = dget(desc, D_TWMAX);
  m.scale = bits_to_float((uint32_t) dget(desc, D_SCALE));
  m.layerBase = dget(desc, D_LAYER_BASE);
  m.fieldBase = dget(desc, D_FIELD_BASE);
  m.towerBase = dget(desc, D_TOWER_BASE);
  return m;
}

// ---- tensor-core products ---------------------------------------------------------------------

// An activation as tensor-core operands: head h and, for PREC = 3, tail l = x - h.
template <int PREC>
struct TF {
  uint32_t h, l;
};

template <int PREC>
__device__ __forceinline__ TF<PREC> split(float x) {
  TF<PREC> r;
  if constexpr (PREC == 3) {
    r.h = (float_bits(x) + 0x1000u) & 0xffffe000u;  // rounded (ties away): the tail keeps the rest, exactly
    r.l = float_bits(x - bits_to_float(r.h));
  } else {
    r.h = float_bits(x);
    r.l = 0u;
  }
  return r;
}

// a: the A fragment in mma order (row g / k t, row g+8 / k t, row g / k t+4, row g+8 / k t+4);
// b: head and tail of (k t, n g), (k t+4, n g) as the host packed them. The two correction terms go
// to their own accumulator e, so consecutive products on one tile do not wait on each other.
template <int PREC>
__device__ __forceinline__ void mma3(float (&c)[4], float (&e)[4], const TF<PREC> (&a)[4], uint32_t bh0,
                                     uint32_t bh1, uint32_t bl0, uint32_t bl1) {
  if constexpr (PREC == 3) {
    mma_tf32(e, a[0].l, a[1].l, a[2].l, a[3].l, bh0, bh1);
    mma_tf32(e, a[0].h, a[1].h, a[2].h, a[3].h, bl0, bl1);
  }
  mma_tf32(c, a[0].h, a[1].h, a[2].h, a[3].h, bh0, bh1);
}

template <int EX, int NT>
__device__ __forceinline__ void zero(float (&acc)[EX / 16][NT][4]) {
#pragma unroll
  for (int mt = 0; mt < EX / 16; ++mt)
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
      for (int c = 0; c < 4; ++c) acc[mt][j][c] = 0.f;
}

// c += e, once a product is done (PREC = 3).
template <int EX, int NT, int PREC>
__device__ __forceinline__ void fold(float (&c)[EX / 16][NT][4], const float (&e)[EX / 16][NT][4]) {
  if constexpr (PREC == 3) {
#pragma unroll
    for (int mt = 0; mt < EX / 16; ++mt)
#pragma unroll
      for (int j = 0; j < NT; ++j)
#pragma unroll
        for (int q = 0; q < 4; ++q) c[mt][j][q] += e[mt][j][q];
  }
}

// Weight fragments: [n-tile][k-block][lane] float4; lane (g, t) holds rows 16kb + 4t + {0,1,2,3} of
// column 8n + g (plain packing) so one 16-byte load feeds two mma k-steps, k-step ks taking elements
// 2ks and 2ks + 1. PREC = 3 weights are plain fp32, split into head and tail here like activations
// (half the bytes from L2 of storing both parts); PREC = 1 weights are rounded to tf32 by the host.
template <int PREC>
__device__ __forceinline__ void frag_k(const float4& f, int ks, uint32_t& h0, uint32_t& h1, uint32_t& l0,
                                       uint32_t& l1) {
  const TF<PREC> b0 = split<PREC>(ks ? f.z : f.x);
  const TF<PREC> b1 = split<PREC>(ks ? f.w : f.y);
  h0 = b0.h;
  h1 = b1.h;
  l0 = b0.l;
  l1 = b1.l;
}

// Stages of weight fragments kept in flight: enough loads to cover L2 latency, within 64 registers.
// Jobs of three or four n-tiles keep three in tf32 and two in 3xTF32 (measured on the H200: the
// 32-example fp32 kernel ran 1.3 % faster with two once its pruned layer split its queries by m-tile;
// the tf32 one 0.6 % slower).
template <int NT, int PREC>
struct Stages {
  static constexpr int D = NT == 3 || NT == 4 ? (PREC == 3 ? 2 : 3) : 16 / NT < 2 ? 2 : 16 / NT > 8 ? 8 : 16 / NT;
};

// acc[mt][j] += A[EX rows, 16·kbtot] · B[16·kbtot, 8·j] for j < NT; tiles from nt on repeat tile
// nt - 1 (so every product runs unconditionally, without predication), and the caller stores only
// the first nt. A is row-major in shared memory (lda 16 mod 32 floats, so the warp's 16-byte loads
// are conflict-free) and read like B: lane (g, t) loads columns 16kb + 4t .. +3 of rows g and g + 8.
// B streams from L2 through a ring of D stages; its n-tiles lie kbStride k-blocks apart (default kbtot:
// a product over part of k passes the whole k).
template <int EX, int NT, int PREC, int D = Stages<NT, PREC>::D>
__device__ __forceinline__ void gemm(float (&acc)[EX / 16][NT][4], const float* A, int lda, const float* B,
                                     int kbtot, int nt, int lane, int kbStride = 0) {
  constexpr int MT = EX / 16;
  const int g = lane >> 2;
  const int t = lane & 3;
  const int ntStride = (kbStride ? kbStride : kbtot) * 128;  // 32-bit offsets: cheaper address arithmetic
  const float* bt[NT];
#pragma unroll
  for (int j = 0; j < NT; ++j) bt[j] = B + lane * 4 + min(j, nt - 1) * ntStride;
  float4 ring[D][NT];
#pragma unroll
  for (int d = 0; d < D; ++d) {
    if (d < kbtot) {
#pragma unroll
      for (int j = 0; j < NT; ++j) ring[d][j] = ldg4(bt[j] + d * 128);
    }
  }
  // a second accumulator set for odd k-steps halves the chain of dependent mma where registers allow
  constexpr bool TWO = MT * NT <= 2;
  float cor[MT][NT][4];
  float acc2[MT][NT][4];
  float cor2[MT][NT][4];
  zero<EX, NT>(cor);
  zero<EX, NT>(acc2);
  zero<EX, NT>(cor2);
  const float* ap = A + g * lda + 4 * t;
  for (int kb0 = 0; kb0 < kbtot; kb0 += D) {
#pragma unroll
    for (int d = 0; d < D; ++d) {
      const int kb = kb0 + d;
      if (kb < kbtot) {
        float4 lo[MT], hi[MT];
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          lo[mt] = *reinterpret_cast<const float4*>(ap + mt * 16 * lda + kb * 16);
          hi[mt] = *reinterpret_cast<const float4*>(ap + (mt * 16 + 8) * lda + kb * 16);
        }
#pragma unroll
        for (int ks = 0; ks < 2; ++ks) {
          TF<PREC> af[MT][4];
#pragma unroll
          for (int mt = 0; mt < MT; ++mt) {
            af[mt][0] = split<PREC>(ks ? lo[mt].z : lo[mt].x);
            af[mt][1] = split<PREC>(ks ? hi[mt].z : hi[mt].x);
            af[mt][2] = split<PREC>(ks ? lo[mt].w : lo[mt].y);
            af[mt][3] = split<PREC>(ks ? hi[mt].w : hi[mt].y);
          }
#pragma unroll
          for (int j = 0; j < NT; ++j) {
            uint32_t h0, h1, l0, l1;
            frag_k<PREC>(ring[d][j], ks, h0, h1, l0, l1);
#pragma unroll
            for (int mt = 0; mt < MT; ++mt) {
              if (TWO && ks) {
                mma3<PREC>(acc2[mt][j], cor2[mt][j], af[mt], h0, h1, l0, l1);
              } else {
                mma3<PREC>(acc[mt][j], cor[mt][j], af[mt], h0, h1, l0, l1);
              }
            }
          }
        }
        if (kb + D < kbtot) {
#pragma unroll
          for (int j = 0; j < NT; ++j) ring[d][j] = ldg4(bt[j] + (kb + D) * 128);
        }
      }
    }
  }
  fold<EX, NT, PREC>(acc, cor);
  if constexpr (TWO) {
    fold<EX, NT, PREC>(acc, cor2);
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int j = 0; j < NT; ++j)
#pragma unroll
        for (int q = 0; q < 4; ++q) acc[mt][j][q] += acc2[mt][j][q];
  }
}

// k-step ks of a product whose A operand is the previous product's output, still in registers:
// c holds the accumulator tile of output columns 8(2kb + ks) .. +8, and the B operand was packed
// "chained" (FusedLayout: lane t holds rows 16kb + 8ks + 2t + {0,1}), so no shuffle is needed.
template <int PREC>
__device__ __forceinline__ void chained_a(TF<PREC> (&a)[4], const float (&c)[4]) {
  a[0] = split<PREC>(c[0]);
  a[1] = split<PREC>(c[2]);
  a[2] = split<PREC>(c[1]);
  a[3] = split<PREC>(c[3]);
}

template <int CS>
__device__ __forceinline__ void st2(float* p, float x, float y, unsigned rank) {
  float2 v;
  v.x = x;
  v.y = y;
  if constexpr (CS == 1) {
    *reinterpret_cast<float2*>(p) = v;
  } else {
#pragma unroll
    for (int r = 0; r < CS; ++r) *reinterpret_cast<float2*>(r == (int) rank ? p : remote(p, r)) = v;
  }
}

template <int CS>
__device__ __forceinline__ void st1(float* p, float x, unsigned rank) {
  if constexpr (CS == 1) {
    *p = x;
  } else {
#pragma unroll
    for (int r = 0; r < CS; ++r) *(r == (int) rank ? p : remote(p, r)) = x;
  }
}

template <int CS>
__device__ __forceinline__ void st4(float* p, float4 v, unsigned rank) {
  if constexpr (CS == 1) {
    *reinterpret_cast<float4*>(p) = v;
  } else {
#pragma unroll
    for (int r = 0; r < CS; ++r) *reinterpret_cast<float4*>(r == (int) rank ? p : remote(p, r)) = v;
  }
}

// Stores an accumulator tile (rows: examples, columns col0 + 8j ..) into every block's copy.
template <int EX, int NT, int CS>
__device__ __forceinline__ void store_tile(const float (&acc)[EX / 16][NT][4], float* dst, int ldd, int col0,
                                           int nt, int lane, unsigned rank) {
  const int g = lane >> 2;
  const int t = lane & 3;
#pragma unroll
  for (int mt = 0; mt < EX / 16; ++mt) {
#pragma unroll
    for (int j = 0; j < NT; ++j) {
      if (j < nt) {
        float* p = dst + (mt * 16 + g) * ldd + col0 + j * 8 + 2 * t;
        st2<CS>(p, acc[mt][j][0], acc[mt][j][1], rank);
        st2<CS>(p + 8 * ldd, acc[mt][j][2], acc[mt][j][3], rank);
      }
    }
  }
}

// GELU, tanh form: 0.5x(1 + tanh(u)) = x·sigmoid(2u), u = sqrt(2/pi)(x + 0.044715x³).
__device__ __forceinline__ float gelu(float x) {
  const float k0 = -2.f * 0.7978845608028654f * 1.4426950408889634f;  // -2·sqrt(2/pi)·log2(e)
  const float k1 = k0 * 0.044715f;
  float e = fast_exp2(fminf(x * fmaf(k1, x * x, k0), 80.f));
  return fast_div(x, 1.f + e);
}

// ---- LayerNorm over rows of W floats, W/4 lanes per row ------------------------------------------

// rows r < nrows; row r is example r / perEx, row r % perEx; src rows at src + ex·srcEx + i·W, dst
// rows at dst + ex·dstEx + i·dstRow. In place when src == dst: each lane writes back only what it read.
// A lane loads its U rows of a pass before it normalises any (from global memory, one after another
// would each wait out a round trip). Not inlined: its registers are its own. With CS > 1 the
// cluster's warps (warp: the index within the cluster) share the rows out, each written to every block.
template <int W, int CS = 1>
HF_NOINLINE void layer_norm_rows(int nrows, int perEx, const float* src, int srcEx, float* dst, int dstEx,
                                 int dstRow, const float* gamma, const float* beta, int d, int warp, int lane,
                                 unsigned rank = 0) {
  constexpr int LPR = W / 4;
  constexpr int RPW = 32 / LPR;
  constexpr int U = 4;
  const int sub = lane / LPR;
  const int q = lane % LPR;
  const int f = 4 * q;
  const float4 gg = ldg4(gamma + f);
  const float4 bb = ldg4(beta + f);
  const float inv = 1.f / (float) d;
  for (int r0 = warp * RPW * U; r0 < nrows; r0 += CS * NWARP * RPW * U) {
    float4 x[U];
    int at[U];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int r = r0 + u * RPW + sub;
      const int ex = r / perEx;
      const int i = r % perEx;
      at[u] = r < nrows ? ex * dstEx + i * dstRow + f : -1;
      x[u] = make_float4(0.f, 0.f, 0.f, 0.f);
      if (r < nrows) x[u] = *reinterpret_cast<const float4*>(src + (long long) ex * srcEx + i * W + f);
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      float s = (x[u].x + x[u].y) + (x[u].z + x[u].w);
#pragma unroll
      for (int o = 1; o < LPR; o <<= 1) s += shfl_xor(s, o);
      const float mean = s * inv;
      const float c0 = f < d ? x[u].x - mean : 0.f;
      const float c1 = f + 1 < d ? x[u].y - mean : 0.f;
      const float c2 = f + 2 < d ? x[u].z - mean : 0.f;
      const float c3 = f + 3 < d ? x[u].w - mean : 0.f;
      float v = (c0 * c0 + c1 * c1) + (c2 * c2 + c3 * c3);
#pragma unroll
      for (int o = 1; o < LPR; o <<= 1) v += shfl_xor(v, o);
      const float rs = rsqrt(v * inv + LN_EPS);
      float4 y;
      y.x = fmaf((x[u].x - mean) * rs, gg.x, bb.x);
      y.y = fmaf((x[u].y - mean) * rs, gg.y, bb.y);
      y.z = fmaf((x[u].z - mean) * rs, gg.z, bb.z);
      y.w = fmaf((x[u].w - mean) * rs, gg.w, bb.w);
      if (at[u] >= 0) st4<CS>(dst + at[u], y, rank);
    }
  }
}

// LayerNorm of whole token rows held as an accumulator tile (rows g and g + 8 of each m-tile; the
// four lanes of a quad hold a row's columns between them): z = (x - mean) / sd · gamma + beta.
template <int EX, int NTW>
__device__ __forceinline__ void tile_layer_norm(const float (&x)[EX / 16][NTW][4], float (&z)[EX / 16][NTW][4],
                                                const float* gamma, const float* beta, int d, int t) {
  const float inv = 1.f / (float) d;
#pragma unroll
  for (int mt = 0; mt < EX / 16; ++mt) {
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {
      float s = 0.f;
#pragma unroll
      for (int nt = 0; nt < NTW; ++nt) s += x[mt][nt][2 * hf] + x[mt][nt][2 * hf + 1];
      s += shfl_xor(s, 1);
      s += shfl_xor(s, 2);
      const float mean = s * inv;
      float v = 0.f;
#pragma unroll
      for (int nt = 0; nt < NTW; ++nt) {
        const int col = nt * 8 + 2 * t;
        const float c0 = col < d ? x[mt][nt][2 * hf] - mean : 0.f;
        const float c1 = col + 1 < d ? x[mt][nt][2 * hf + 1] - mean : 0.f;
        v += c0 * c0 + c1 * c1;
      }
      v += shfl_xor(v, 1);
      v += shfl_xor(v, 2);
      const float rs = rsqrt(v * inv + LN_EPS);
#pragma unroll
      for (int nt = 0; nt < NTW; ++nt) {
        const int col = nt * 8 + 2 * t;
        const float2 gg = ldg2(gamma + col);
        const float2 bb = ldg2(beta + col);
        z[mt][nt][2 * hf] = fmaf((x[mt][nt][2 * hf] - mean) * rs, gg.x, bb.x);
        z[mt][nt][2 * hf + 1] = fmaf((x[mt][nt][2 * hf + 1] - mean) * rs, gg.y, bb.y);
      }
    }
  }
}

// ---- phase timing, a diagnostic build only (kernels/bench/run.sh TIMING=1 compiles with
// -DHF_TIMING=block): thread 0 of that block adds the SM clocks between the barriers that end each
// phase, and prints them when its tile is done ----------------------------------------------------
enum : int { T_TOKENS, T_LN1, T_ZU, T_WQ, T_KV, T_ATTN, T_ROWS, T_TOWERS, T_N };
#ifdef HF_TIMING
#define HF_MARK(phase)                                      \
  if (HF_THREAD_X == 0 && HF_BLOCK_X == HF_TIMING) {        \
    const long long now = clock64();                        \
    clocks[phase] += now - lastClock;                       \
    lastClock = now;                                        \
  }
#else
#define HF_MARK(phase)
#endif

// ---- block traces, a diagnostic build only (run.sh TRACE=1 compiles with -DHF_TRACE): every launch
// records, per tile, its SM, wall-clock start and end (%globaltimer, ns) and SM clocks; the last tile
// to finish prints them all, so no print disturbs the blocks still running. Shows what one block's
// phase clocks cannot: gaps between blocks, waves, the SM clock in use.
#ifdef HF_TRACE
constexpr int TRACE_MAX = 8192;
__device__ unsigned long long traceNs[TRACE_MAX][2];
__device__ long long traceClocks[TRACE_MAX];
__device__ unsigned traceSm[TRACE_MAX];
__device__ unsigned traceDone;

__device__ __forceinline__ unsigned long long global_ns() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

template <int EX, int CS, int PREC>
__device__ void trace_tile(int tile, int tiles, int batch, unsigned long long ns0, long long clock0) {
  if (HF_THREAD_X != 0 || tile >= TRACE_MAX) return;
  unsigned sm;
  asm volatile("mov.u32 %0, %%smid;" : "=r"(sm));
  traceNs[tile][0] = ns0;
  traceNs[tile][1] = global_ns();
  traceClocks[tile] = clock64() - clock0;
  traceSm[tile] = sm;
  __threadfence();
  if (atomicAdd(&traceDone, 1u) == (unsigned) min(tiles, TRACE_MAX) - 1) {
    __threadfence();
    for (int i = 0; i < min(tiles, TRACE_MAX); ++i) {
      printf("trace e%d c%d p%d batch %d tile %d sm %u ns %llu %llu clocks %lld\n", EX, CS, PREC, batch, i,
             traceSm[i], traceNs[i][0], traceNs[i][1], traceClocks[i]);
    }
    traceDone = 0;
  }
}
#endif

// ---- heads: final LayerNorm of each task token, then its tower (docs/model.md, Heads and loss), each layer a
// tensor-core product per task: rows the tile's examples, weights packed like the others (widths
// padded to 16, with zeros). Tasks j0 .. j1 - 1 only (a cluster gives each task a block of its own).
// Not inlined: the forward pass keeps its registers for the layers.
template <int EX, int W, int PREC>
HF_NOINLINE void heads(const long long* __restrict__ desc, const float* __restrict__ wts, float* kv, const float* xt,
                       float* __restrict__ logits, int ex0, int nvalid, int j0, int j1) {
  constexpr int MT = EX / 16;
  constexpr int KBW = W / 16;
  const Dims m = load_dims(desc);
  const int warp = HF_THREAD_X >> 5;
  const int lane = HF_THREAD_X & 31;
  const int g = lane >> 2;
  const int t = lane & 3;
  const int sh = stride16(W);
  const int st = stride16((m.twmax + 15) / 16 * 16);
  float* hb = kv;                  // [T][EX][sh]: the normalised task tokens
  float* t0 = hb + m.T * EX * sh;  // [T][EX][st], twice: the hidden layers
  float* t1 = t0 + m.T * EX * st;
  layer_norm_rows<W>(EX * m.T, m.T, xt + (m.L - m.T) * W, m.L * W, hb, sh, EX * sh, wts + ldgl(desc + D_FINAL_G),
                     wts + ldgl(desc + D_FINAL_B), m.d, warp, lane);
  sync_block();
  const long long* tw = desc + m.towerBase;
  const int depth = m.tdepth;
  const float* in = hb;
  int inStride = sh;
  for (int k = 0; k < depth; ++k) {
    const int kb = k == 0 ? KBW : ((int) ldgl(tw + k) + 15) / 16;
    const int nts = ((int) ldgl(tw + k + 1) + 15) / 16 * 2;
    float* out = (k & 1) ? t1 : t0;
    for (int job = warp; job < (j1 - j0) * nts; job += NWARP) {
      const int j = j0 + job / nts;
      const int n = job % nts;
      const long long* wb = tw + depth + 1 + 2 * (j * depth + k);
      float acc[MT][1][4];
      zero<EX, 1>(acc);
      gemm<EX, 1, PREC>(acc, in + j * EX * inStride, inStride, wts + ldgl(wb) + n * kb * 128, kb, 1, lane);
      const int col = n * 8 + 2 * t;
      const float2 bb = ldg2(wts + ldgl(wb + 1) + col);
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
        for (int hf = 0; hf < 2; ++hf) {
          const int ex = mt * 16 + g + 8 * hf;
          const float v0 = acc[mt][0][2 * hf] + bb.x;
          const float v1 = acc[mt][0][2 * hf + 1] + bb.y;
          if (k + 1 < depth) {
            *reinterpret_cast<float2*>(out + (j * EX + ex) * st + col) = make_float2(fmaxf(v0, 0.f), fmaxf(v1, 0.f));
          } else if (col == 0 && ex < nvalid) {  // the last layer has one real output, the logit
            logits[(long long) (ex0 + ex) * m.T + j] = v0;
          }
        }
      }
    }
    sync_block();
    in = out;
    inStride = st;
  }
}

// ---- attention of NE (head, example) pairs on the tensor cores: softmax(Q K^T · scale) V ----------
// Rows are query tokens s0 .. s0 + 16·MQ (MQ m-tiles), columns keys padded to 32 (four n-tiles, keys
// from L masked), k the head's features. All MQ m-tiles of all NE examples run at once: the m-tiles
// of an example share each key and value operand, and every (example, m-tile) is a chain of its own
// for the warp. The k order is permuted (slot t = feature 2t, slot t + 4 = 2t + 1), so each lane
// reads its Q and K operands as pairs, and P stays in registers as the A operand of P·V the way
// the FFN chains its products. O is written over Q.
template <int MQ, int NE, int W, int CS, int PREC>
__device__ __forceinline__ void attend(float* const (&qh)[NE], const float* const (&kh)[NE],
                                       const float* const (&vh)[NE], int s0, int L, int dhp, float scale,
                                       int lane, unsigned rank) {
  const int g = lane >> 2;
  const int t = lane & 3;
  float sc[NE][MQ][4][4];
  float se[NE][MQ][4][4];
#pragma unroll
  for (int e = 0; e < NE; ++e)
#pragma unroll
    for (int q = 0; q < MQ; ++q)
#pragma unroll
      for (int nt = 0; nt < 4; ++nt)
#pragma unroll
        for (int c = 0; c < 4; ++c) sc[e][q][nt][c] = se[e][q][nt][c] = 0.f;
  for (int c0 = 0; c0 < dhp; c0 += 8) {
    const float2 zero2 = make_float2(0.f, 0.f);
#pragma unroll
    for (int e = 0; e < NE; ++e) {
      TF<PREC> a[MQ][4];
#pragma unroll
      for (int q = 0; q < MQ; ++q) {
        const int ia = s0 + 16 * q + g;  // the lane's two query rows of m-tile q
        const int ib = ia + 8;
        const float2 qa = ia < L ? *reinterpret_cast<const float2*>(qh[e] + ia * W + c0 + 2 * t) : zero2;
        const float2 qb = ib < L ? *reinterpret_cast<const float2*>(qh[e] + ib * W + c0 + 2 * t) : zero2;
        a[q][0] = split<PREC>(qa.x);
        a[q][1] = split<PREC>(qb.x);
        a[q][2] = split<PREC>(qa.y);
        a[q][3] = split<PREC>(qb.y);
      }
#pragma unroll
      for (int nt = 0; nt < 4; ++nt) {
        const int j = nt * 8 + g;
        const float2 k2 = j < L ? *reinterpret_cast<const float2*>(kh[e] + j * dhp + c0 + 2 * t) : zero2;
        const TF<PREC> b0 = split<PREC>(k2.x);
        const TF<PREC> b1 = split<PREC>(k2.y);
#pragma unroll
        for (int q = 0; q < MQ; ++q) mma3<PREC>(sc[e][q][nt], se[e][q][nt], a[q], b0.h, b1.h, b0.l, b1.l);
      }
    }
  }
  // softmax along each row: a row's 32 scores are spread over the 4 lanes of a quad
  const float sl = scale * 1.4426950408889634f;  // exp(x) = exp2(x·log2 e)
  float mx[NE][MQ][2];
  float sum[NE][MQ][2];
#pragma unroll
  for (int e = 0; e < NE; ++e)
#pragma unroll
    for (int q = 0; q < MQ; ++q) {
      mx[e][q][0] = mx[e][q][1] = -3.0e38f;
      sum[e][q][0] = sum[e][q][1] = 0.f;
#pragma unroll
      for (int nt = 0; nt < 4; ++nt)
#pragma unroll
        for (int c = 0; c < 4; ++c) {
          const int j = nt * 8 + 2 * t + (c & 1);
          sc[e][q][nt][c] = j < L ? (sc[e][q][nt][c] + se[e][q][nt][c]) * sl : -3.0e38f;
          mx[e][q][c >> 1] = fmaxf(mx[e][q][c >> 1], sc[e][q][nt][c]);
        }
    }
#pragma unroll
  for (int e = 0; e < NE; ++e)
#pragma unroll
    for (int q = 0; q < MQ; ++q)
#pragma unroll
      for (int hf = 0; hf < 2; ++hf) {
        mx[e][q][hf] = fmaxf(mx[e][q][hf], shfl_xor(mx[e][q][hf], 1));
        mx[e][q][hf] = fmaxf(mx[e][q][hf], shfl_xor(mx[e][q][hf], 2));
      }
#pragma unroll
  for (int e = 0; e < NE; ++e)
#pragma unroll
    for (int q = 0; q < MQ; ++q)
#pragma unroll
      for (int nt = 0; nt < 4; ++nt)
#pragma unroll
        for (int c = 0; c < 4; ++c) {
          sc[e][q][nt][c] = fast_exp2(sc[e][q][nt][c] - mx[e][q][c >> 1]);
          sum[e][q][c >> 1] += sc[e][q][nt][c];
        }
#pragma unroll
  for (int e = 0; e < NE; ++e)
#pragma unroll
    for (int q = 0; q < MQ; ++q)
#pragma unroll
      for (int hf = 0; hf < 2; ++hf) {
        sum[e][q][hf] += shfl_xor(sum[e][q][hf], 1);
        sum[e][q][hf] += shfl_xor(sum[e][q][hf], 2);
        sum[e][q][hf] = 1.f / sum[e][q][hf];
      }
  // O = P·V, 8 features at a time; key slot t of k-step kk is key 8kk + 2t, slot t + 4 key 8kk + 2t + 1.
  // The softmax's shuffles come after every lane's reads of Q, so writing O over it needs no barrier.
  for (int c0 = 0; c0 < dhp; c0 += 8) {
    float o[NE][MQ][4];
    float oe[NE][MQ][4];
#pragma unroll
    for (int e = 0; e < NE; ++e)
#pragma unroll
      for (int q = 0; q < MQ; ++q)
#pragma unroll
        for (int c = 0; c < 4; ++c) o[e][q][c] = oe[e][q][c] = 0.f;
#pragma unroll
    for (int e = 0; e < NE; ++e)
#pragma unroll
      for (int kk = 0; kk < 4; ++kk) {
        const int j = kk * 8 + 2 * t;
        const TF<PREC> b0 = split<PREC>(j < L ? vh[e][j * dhp + c0 + g] : 0.f);
        const TF<PREC> b1 = split<PREC>(j + 1 < L ? vh[e][(j + 1) * dhp + c0 + g] : 0.f);
#pragma unroll
        for (int q = 0; q < MQ; ++q) {
          TF<PREC> pa[4];
          chained_a<PREC>(pa, sc[e][q][kk]);
          mma3<PREC>(o[e][q], oe[e][q], pa, b0.h, b1.h, b0.l, b1.l);
        }
      }
#pragma unroll
    for (int e = 0; e < NE; ++e)
#pragma unroll
      for (int q = 0; q < MQ; ++q) {
        const int ia = s0 + 16 * q + g;
        const int ib = ia + 8;
        if (ia < L) st2<CS>(qh[e] + ia * W + c0 + 2 * t, (o[e][q][0] + oe[e][q][0]) * sum[e][q][0], (o[e][q][1] + oe[e][q][1]) * sum[e][q][0], rank);
        if (ib < L) st2<CS>(qh[e] + ib * W + c0 + 2 * t, (o[e][q][2] + oe[e][q][2]) * sum[e][q][1], (o[e][q][3] + oe[e][q][3]) * sum[e][q][1], rank);
      }
  }
}

// ---- pieces of a row's work, shared by row() and row_split() --------------------------------------
// X' of token row i (weight row r) of EX examples as an accumulator tile: O_i·wo[r] plus X_i from xt.
template <int EX, int W, int PREC>
__device__ __forceinline__ void attention_residual(float (&xp)[EX / 16][W / 8][4], const float* zq, int sz,
                                                   const float* __restrict__ xt, int LW, int i, int r,
                                                   const float* wo, int lane, int g, int t) {
  zero<EX, W / 8>(xp);
  gemm<EX, W / 8, PREC>(xp, zq + i * W, sz, wo + (long long) r * W * W, W / 16, W / 8, lane);
#pragma unroll
  for (int mt = 0; mt < EX / 16; ++mt) {
    const int e = mt * 16 + g;
#pragma unroll
    for (int nt = 0; nt < W / 8; ++nt) {
      const int col = nt * 8 + 2 * t;
      const float2 a = *reinterpret_cast<const float2*>(xt + (long long) e * LW + i * W + col);
      const float2 b = *reinterpret_cast<const float2*>(xt + (long long) (e + 8) * LW + i * W + col);
      xp[mt][nt][0] += a.x;
      xp[mt][nt][1] += a.y;
      xp[mt][nt][2] += b.x;
      xp[mt][nt][3] += b.y;
    }
  }
}

// The first product of an FFN step: 16 hidden units' pre-activations z·w1 (z the LN2 tile, f1 the
// step's w1 fragments). GELU and the second product stay with the callers: as a shared function too,
// they moved every kernel's code and ran slower (tf32 at 256 0.1002 → 0.1030 ms; fp32 at 16,384 0.5 %).
template <int EX, int W, int PREC>
__device__ __forceinline__ void ffn_hidden(float (&hcc)[EX / 16][2][4], const float (&z)[EX / 16][W / 8][4],
                                           const float4 (&f1)[W / 16][2]) {
  constexpr int MT = EX / 16;
  float hce[MT][2][4];
  zero<EX, 2>(hcc);
  zero<EX, 2>(hce);
#pragma unroll
  for (int kb = 0; kb < W / 16; ++kb)
#pragma unroll
    for (int ks2 = 0; ks2 < 2; ++ks2)
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        uint32_t h0, h1, l0, l1;
        frag_k<PREC>(f1[kb][j], ks2, h0, h1, l0, l1);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          TF<PREC> za[4];  // split again each step: registers are scarcer than these few ops
          chained_a<PREC>(za, z[mt][2 * kb + ks2]);
          mma3<PREC>(hcc[mt][j], hce[mt][j], za, h0, h1, l0, l1);
        }
      }
  fold<EX, 2, PREC>(hcc, hce);
}

// ---- per row: X' = X + O·wo, Y = GELU(LN2(X')·w1 + b1)·w2 + b2, out = X' + Y, all in registers -----
// One warp, token row i (weight row r) of EX examples: zq and xt point at the first of them.
template <int EX, int W, int CS, int PREC, bool LEAN>
__device__ __forceinline__ void row(float* zq, int sz, float* __restrict__ xt, int LW, int i, int r,
                                    const float* wo, const float* g2, const float* b2ln, const float* w1,
                                    const float* b1, const float* w2, const float* b2, const long long* ld,
                                    const float* __restrict__ wts, int l, int layers, int d, int fp, int lane,
                                    unsigned rank) {
  constexpr int MT = EX / 16;
  constexpr int NTW = W / 8;
  constexpr int KBW = W / 16;
  const int g = lane >> 2;
  const int t = lane & 3;
  const int kbF = fp / 16;
  float xp[MT][NTW][4];
  attention_residual<EX, W, PREC>(xp, zq, sz, xt, LW, i, r, wo, lane, g, t);
  float z[MT][NTW][4];
  tile_layer_norm<EX, NTW>(xp, z, g2, b2ln, d, t);
  // X' waits in shared memory, over O_i (read by the product above), while the FFN runs
  sync_warp();
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
    for (int nt = 0; nt < NTW; ++nt) {
      float* p = zq + (mt * 16 + g) * sz + i * W + nt * 8 + 2 * t;
      st2<1>(p, xp[mt][nt][0], xp[mt][nt][1], 0);
      st2<1>(p + 8 * sz, xp[mt][nt][2], xp[mt][nt][3], 0);
    }
  }
  // FFN, 16 hidden units at a time: their GELU output is the next product's A operand
  const float* w1r = w1 + (long long) r * W * fp;
  const float* w2r = w2 + (long long) r * fp * W;
  const float* b1r = b1 + (long long) r * fp;
  float y[MT][NTW][4];
  float ye[MT][NTW][4];
  zero<EX, NTW>(y);
  zero<EX, NTW>(ye);
  // weights one step ahead (unless LEAN): w2's for this step load during the first product,
  // w1's for the next step during GELU and the second product
  float4 f1[KBW][2];
  float4 f2[NTW];
  auto load1 = [&](int step) {
#pragma unroll
    for (int kb = 0; kb < KBW; ++kb)
#pragma unroll
      for (int j = 0; j < 2; ++j) f1[kb][j] = ldg4(w1r + ((long long) (2 * step + j) * KBW + kb) * 128 + lane * 4);
  };
  auto load2 = [&](int step) {
#pragma unroll
    for (int nt = 0; nt < NTW; ++nt) f2[nt] = ldg4(w2r + ((long long) nt * kbF + step) * 128 + lane * 4);
  };
  if (!LEAN) load1(0);
  // two steps at a time in tf32 (measured 2.7 % faster at 16,384; 3xTF32 spills with it)
#pragma unroll (PREC == 1 ? 2 : 1)
  for (int kb2 = 0; kb2 < kbF; ++kb2) {
    if (LEAN) {
      load1(kb2);
    } else {
      load2(kb2);
    }
    float hcc[MT][2][4];
    ffn_hidden<EX, W, PREC>(hcc, z, f1);
    if (LEAN) {
      load2(kb2);
    } else if (kb2 + 1 < kbF) {
      load1(kb2 + 1);
    }
    TF<PREC> ha[MT][2][4];
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      const float2 bb = ldg2(b1r + (2 * kb2 + j) * 8 + 2 * t);
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        hcc[mt][j][0] = gelu(hcc[mt][j][0] + bb.x);
        hcc[mt][j][1] = gelu(hcc[mt][j][1] + bb.y);
        hcc[mt][j][2] = gelu(hcc[mt][j][2] + bb.x);
        hcc[mt][j][3] = gelu(hcc[mt][j][3] + bb.y);
        chained_a<PREC>(ha[mt][j], hcc[mt][j]);
      }
    }
#pragma unroll
    for (int nt = 0; nt < NTW; ++nt)
#pragma unroll
      for (int ks2 = 0; ks2 < 2; ++ks2) {
        uint32_t h0, h1, l0, l1;
        frag_k<PREC>(f2[nt], ks2, h0, h1, l0, l1);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) mma3<PREC>(y[mt][nt], ye[mt][nt], ha[mt][ks2], h0, h1, l0, l1);
      }
  }
  fold<EX, NTW, PREC>(y, ye);
  // out = X' + Y + b2, over X_i in global memory (only this warp reads X_i); unless this is the
  // last layer (or LEAN), the next layer's LN1 of the row goes straight into zq of every block
  // (only the last layer may be pruned, so every other one writes all L rows)
  const float* b2r = b2 + (long long) r * W;
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
    const int e = mt * 16 + g;
#pragma unroll
    for (int nt = 0; nt < NTW; ++nt) {
      const int col = nt * 8 + 2 * t;
      const float2 bb = ldg2(b2r + col);
      const float2 x0 = *reinterpret_cast<const float2*>(zq + e * sz + i * W + col);
      const float2 x1 = *reinterpret_cast<const float2*>(zq + (e + 8) * sz + i * W + col);
      xp[mt][nt][0] = x0.x + (y[mt][nt][0] + bb.x);
      xp[mt][nt][1] = x0.y + (y[mt][nt][1] + bb.y);
      xp[mt][nt][2] = x1.x + (y[mt][nt][2] + bb.x);
      xp[mt][nt][3] = x1.y + (y[mt][nt][3] + bb.y);
      st_stream2(xt + (long long) e * LW + i * W + col, make_float2(xp[mt][nt][0], xp[mt][nt][1]));
      st_stream2(xt + (long long) (e + 8) * LW + i * W + col, make_float2(xp[mt][nt][2], xp[mt][nt][3]));
    }
  }
  if (!LEAN && l + 1 < layers) {
    const long long* ln = ld + L_STRIDE;
    tile_layer_norm<EX, NTW>(xp, z, wts + ldgl(ln + L_LN1G), wts + ldgl(ln + L_LN1B), d, t);
    store_tile<EX, NTW, CS>(z, zq, sz, i * W, NTW, lane, rank);
  }
}

// ---- the pruned last layer's rows in a cluster: R <= CS rows, row `rank` on all NWARP warps of block
// `rank`. One warp a row would leave most of the cluster idle while it runs the FFN's steps one after
// another: here every warp computes X' = X + O·wo and LN2 of the row (a small product, repeated rather
// than shared through a barrier), then its share of the FFN's hidden units; the partial sums meet in
// `scratch` (shared memory, NWARP + 1 slices of [EX][W]) and are added in warp order, then X' + (Y + b2)
// goes over X in global memory. Not inlined: its registers stay out of the layers' allocation.
template <int EX, int W, int PREC>
HF_NOINLINE void row_split(const float* zq, int sz, float* __restrict__ xt, int LW, int i, int r, const float* wo,
                           const float* g2, const float* b2ln, const float* w1, const float* b1, const float* w2,
                           const float* b2, float* scratch, int d, int fp) {
  constexpr int MT = EX / 16;
  constexpr int NTW = W / 8;
  constexpr int KBW = W / 16;
  const int warp = HF_THREAD_X >> 5;
  const int lane = HF_THREAD_X & 31;
  const int g = lane >> 2;
  const int t = lane & 3;
  const int kbF = fp / 16;
  float xp[MT][NTW][4];
  attention_residual<EX, W, PREC>(xp, zq, sz, xt, LW, i, r, wo, lane, g, t);
  float z[MT][NTW][4];
  tile_layer_norm<EX, NTW>(xp, z, g2, b2ln, d, t);
  const float* w1r = w1 + (long long) r * W * fp;
  const float* w2r = w2 + (long long) r * fp * W;
  const float* b1r = b1 + (long long) r * fp;
  float y[MT][NTW][4];
  float ye[MT][NTW][4];
  zero<EX, NTW>(y);
  zero<EX, NTW>(ye);
  for (int kb2 = warp; kb2 < kbF; kb2 += NWARP) {
    float4 f1[KBW][2];
    float4 f2[NTW];
#pragma unroll
    for (int kb = 0; kb < KBW; ++kb)
#pragma unroll
      for (int j = 0; j < 2; ++j) f1[kb][j] = ldg4(w1r + ((long long) (2 * kb2 + j) * KBW + kb) * 128 + lane * 4);
#pragma unroll
    for (int nt = 0; nt < NTW; ++nt) f2[nt] = ldg4(w2r + ((long long) nt * kbF + kb2) * 128 + lane * 4);
    float hcc[MT][2][4];
    ffn_hidden<EX, W, PREC>(hcc, z, f1);
    TF<PREC> ha[MT][2][4];
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      const float2 bb = ldg2(b1r + (2 * kb2 + j) * 8 + 2 * t);
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        hcc[mt][j][0] = gelu(hcc[mt][j][0] + bb.x);
        hcc[mt][j][1] = gelu(hcc[mt][j][1] + bb.y);
        hcc[mt][j][2] = gelu(hcc[mt][j][2] + bb.x);
        hcc[mt][j][3] = gelu(hcc[mt][j][3] + bb.y);
        chained_a<PREC>(ha[mt][j], hcc[mt][j]);
      }
    }
#pragma unroll
    for (int nt = 0; nt < NTW; ++nt)
#pragma unroll
      for (int ks2 = 0; ks2 < 2; ++ks2) {
        uint32_t h0, h1, l0, l1;
        frag_k<PREC>(f2[nt], ks2, h0, h1, l0, l1);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) mma3<PREC>(y[mt][nt], ye[mt][nt], ha[mt][ks2], h0, h1, l0, l1);
      }
  }
  fold<EX, NTW, PREC>(y, ye);
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
    const int e = mt * 16 + g;
#pragma unroll
    for (int nt = 0; nt < NTW; ++nt) {
      const int col = nt * 8 + 2 * t;
      float* py = scratch + (warp * EX + e) * W + col;
      *reinterpret_cast<float2*>(py) = make_float2(y[mt][nt][0], y[mt][nt][1]);
      *reinterpret_cast<float2*>(py + 8 * W) = make_float2(y[mt][nt][2], y[mt][nt][3]);
      if (warp == 0) {
        float* px = scratch + (NWARP * EX + e) * W + col;
        *reinterpret_cast<float2*>(px) = make_float2(xp[mt][nt][0], xp[mt][nt][1]);
        *reinterpret_cast<float2*>(px + 8 * W) = make_float2(xp[mt][nt][2], xp[mt][nt][3]);
      }
    }
  }
  sync_block();
  const float* b2r = b2 + (long long) r * W;
  for (int it = HF_THREAD_X; it < EX * W; it += NTHREADS) {
    const int e = it / W;
    const int c = it % W;
    float sum = scratch[it];
    for (int w = 1; w < NWARP; ++w) sum += scratch[w * EX * W + it];
    st_stream1(xt + (long long) e * LW + i * W + c, scratch[NWARP * EX * W + it] + (sum + ldg1(b2r + c)));
  }
}

// ---- the forward pass of one tile -----------------------------------------------------------------

template <int EX, int W, int CS, int PREC>
__device__ void forward(const long long* __restrict__ desc, const float* __restrict__ wts,
                        const int* __restrict__ cat, const int* __restrict__ bagOff, const int* __restrict__ bagIds,
                        const float* __restrict__ dense, float* __restrict__ xbuf, float* __restrict__ logits,
                        int batch) {
  constexpr int MT = EX / 16;
  constexpr int NTW = W / 8;   // n-tiles across a token row
  constexpr int KBW = W / 16;  // k-blocks across a token row
  constexpr int GNW = CS * NWARP;
  constexpr int NTC = CS == 1 ? 3 : CS == 2 ? 2 : 1;  // n-tiles per job in the wide products
  // n-tiles per key/value job in a 4-block cluster (measured on the H200: 3 beats 1 by 5 % at 256;
  // 4 is slower in fp32 and, with a deeper ring, spills)
  constexpr int NKV = 3;
  // weight stages of those jobs and of the split z·[uk|uv]: five in the 16-example 4-block tf32 kernel
  // (measured 0.6 % faster at 256; with five, the 2-block one spills and ran 8 % slower)
  constexpr int DCL = EX == 16 && CS == 4 && PREC == 1 ? 5 : Stages<3, PREC>::D;
  // The 32-example 3xTF32 kernel is short of registers: it keeps LN1 as a pass of its own and loads
  // the FFN's weights step by step (measured: both faster there, slower everywhere else).
  constexpr bool LEAN = EX == 32 && PREC == 3;

#ifdef HF_TIMING
  long long clocks[T_N] = {};
  long long lastClock = clock64();
#endif
#ifdef HF_TRACE
  const unsigned long long traceNs0 = global_ns();
  const long long traceClock0 = clock64();
#endif
  const Dims m = load_dims(desc);
  const int tid = HF_THREAD_X;
  const int warp = tid >> 5;
  const int lane = tid & 31;
  const unsigned rank = cluster_rank<CS>();
  const int gw = (int) rank * NWARP + warp;  // this warp's index within the cluster
  const int gt = (int) rank * NTHREADS + tid;
  const int tile = HF_BLOCK_X / CS;
  const int ex0 = tile * EX;
  const int nvalid = min(EX, batch - ex0);
  const int LW = m.L * W;

  const int sz = stride16(LW);
  const int sp = stride16(m.np);
  const int hp = CS > 1 ? m.heads : 1;  // heads per attention pass: all of them when a cluster shares the tile
  const int skv = stride8(hp * m.L * m.dhp);
  float* zq = shared_floats();  // [EX][sz]: tokens, normalised tokens, queries, attention output
  float* ps = zq + EX * sz;     // [EX][sp]: z·[uk | uv]
  float* kv = ps + EX * sp;     // keys and values of hp heads, later the towers' scratch
  float* ks = kv;
  float* vs = kv + EX * skv;
  float* xt = xbuf + (long long) ex0 * LW;  // this tile's rows of the layer input / output

  // ---- tokens (docs/model.md, Tokens), shared out over the cluster: each goes into every block's zq
  // and to global memory (the residual of layer 0 reads it there, like later layers) ----
  {
    constexpr int Q = W / 4;
    const int items = EX * m.nemb * Q;
    for (int it = gt; it < items; it += CS * NTHREADS) {
      const int q = it % Q;
      const int e = (it / Q) % m.nemb;
      const int ex = it / (Q * m.nemb);
      float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
      if (ex < nvalid) {
        const int slot = dget(desc, m.fieldBase + 2 * e);
        const float* table = wts + ldgl(desc + m.fieldBase + 2 * e + 1);
        const int b = ex0 + ex;
        if (slot >= 0) {
          v = ld_stream4(table + (long long) cat[b * m.ncat + slot] * W + 4 * q);
        } else {
          const int k = -1 - slot;
          const int st = bagOff[b * m.nbag + k];
          const int en = bagOff[b * m.nbag + k + 1];
          const float inv = 1.f / (float) max(1, en - st);
          for (int p = st; p < en; ++p) {
            const float4 r = ld_stream4(table + (long long) bagIds[p] * W + 4 * q);
            v.x = fmaf(inv, r.x, v.x);
            v.y = fmaf(inv, r.y, v.y);
            v.z = fmaf(inv, r.z, v.z);
            v.w = fmaf(inv, r.w, v.w);
          }
        }
      }
      st4<CS>(zq + ex * sz + e * W + 4 * q, v, rank);
      st_stream4(xt + (long long) ex * LW + e * W + 4 * q, v);
    }
    if (m.dt > 0) {
      const int cols = m.dt * W;
      const float* dw = wts + ldgl(desc + D_DENSE_W);
      const float* db = wts + ldgl(desc + D_DENSE_B);
      for (int it = gt; it < EX * cols; it += CS * NTHREADS) {
        const int c = it % cols;
        const int ex = it / cols;
        float s = 0.f;
        if (ex < nvalid) {
          const float* x = dense + (long long) (ex0 + ex) * m.ndense;
          for (int k = 0; k < m.ndense; ++k) s = fmaf(x[k], ldg1(dw + k * cols + c), s);
        }
        s += ldg1(db + c);
        st1<CS>(zq + ex * sz + m.nemb * W + c, s, rank);
        st_stream1(xt + (long long) ex * LW + m.nemb * W + c, s);
      }
    }
    const float* tt = wts + ldgl(desc + D_TASK);
    const int tw = m.T * W;
    for (int it = gt; it < EX * tw; it += CS * NTHREADS) {
      const int f = it % tw;
      const int ex = it / tw;
      const float v = ldg1(tt + f);
      st1<CS>(zq + ex * sz + (m.L - m.T) * W + f, v, rank);
      st_stream1(xt + (long long) ex * LW + (m.L - m.T) * W + f, v);
    }
    sync_cluster<CS>();  // LN1 below normalises zq in place
    HF_MARK(T_TOKENS);
  }

  for (int l = 0; l < m.layers; ++l) {
    const long long* ld = desc + m.layerBase + L_STRIDE * l;
    const int R = (int) ldgl(ld + L_R);
    const int s0 = m.L - R;  // first query row: the task tokens of a pruned layer

    // LN1 of all L rows into zq: layer 0's in place, later layers' from the previous layer's output
    // (unless LEAN, that one's per-row epilogue wrote them)
    if (l == 0) {
      layer_norm_rows<W, CS>(EX * m.L, m.L, zq, sz, zq, sz, W, wts + ldgl(ld + L_LN1G), wts + ldgl(ld + L_LN1B),
                             m.d, gw, lane, rank);
      sync_cluster<CS>();
      HF_MARK(T_LN1);
    } else if (LEAN) {
      layer_norm_rows<W>(EX * m.L, m.L, xt, LW, zq, sz, W, wts + ldgl(ld + L_LN1G), wts + ldgl(ld + L_LN1B), m.d,
                         warp, lane);
      sync_block();
      HF_MARK(T_LN1);
    }

    // composite low-rank projections, first half: P = z·[uk | uv] over the flattened tokens. A cluster
    // splits k too: one job a warp, three n-tiles over a CS-th of k (a chain a quarter as long, three
    // at once), partial sums into every block's key/value space (free until the keys), then every
    // block adds the parts in the same order, so all hold the same P. (Not the 2-block 3xTF32
    // kernel: it spills 80 bytes with it and ran 1.3 % slower at 1,024.)
    const bool splitZu = (CS == 4 || (CS == 2 && PREC == 1)) && CS * sp <= 2 * skv;
    if (splitZu) {
      const int ntP = m.np / 8;
      const int kbP = LW / 16;
      const int kbPart = (kbP + CS - 1) / CS;
      const float* u = wts + ldgl(ld + L_UCAT);
      for (int job = gw; job < (ntP + 2) / 3 * CS; job += GNW) {
        const int n0 = job / CS * 3;
        const int nt = min(3, ntP - n0);
        const int part = job % CS;
        const int k0 = part * kbPart;
        float acc[MT][3][4];
        zero<EX, 3>(acc);
        if (k0 < kbP)
          gemm<EX, 3, PREC, DCL>(acc, zq + k0 * 16, sz, u + ((long long) n0 * kbP + k0) * 128, min(kbPart, kbP - k0), nt,
                            lane, kbP);
        store_tile<EX, 3, CS>(acc, kv + part * EX * sp, sp, n0 * 8, nt, lane, rank);
      }
      sync_cluster<CS>();
      const int q4 = m.np / 4;
      for (int it = tid; it < EX * q4; it += NTHREADS) {
        const int off = it / q4 * sp + it % q4 * 4;
        float4 sum = *reinterpret_cast<const float4*>(kv + off);
        for (int part = 1; part < CS; ++part) {
          const float4 v = *reinterpret_cast<const float4*>(kv + part * EX * sp + off);
          sum.x += v.x;
          sum.y += v.y;
          sum.z += v.z;
          sum.w += v.w;
        }
        *reinterpret_cast<float4*>(ps + off) = sum;
      }
      // the parts are read: other blocks may write keys over them once all have arrived, which the
      // queries below (reads of this block's zq, writes to every block's) need not wait for
      cluster_arrive<CS>();
    } else {
      const int ntP = m.np / 8;
      const int kbP = LW / 16;
      const int gsz = min(NTC, (ntP + GNW - 1) / GNW);
      const int jobs = (ntP + gsz - 1) / gsz;
      const float* u = wts + ldgl(ld + L_UCAT);
      for (int job = gw; job < jobs; job += GNW) {
        const int n0 = job * gsz;
        const int nt = min(gsz, ntP - n0);
        float acc[MT][NTC][4];
        zero<EX, NTC>(acc);
        gemm<EX, NTC, PREC>(acc, zq, sz, u + (long long) n0 * kbP * 128, kbP, nt, lane);
        store_tile<EX, NTC, CS>(acc, ps, sp, n0 * 8, nt, lane, rank);
      }
    }
    if (!splitZu) sync_cluster<CS>();
    HF_MARK(T_ZU);

    // heterogeneous queries Q_i = Z_i·wq[i] for rows s0.., written over Z_i (one warp owns a row; in a
    // pruned 3xTF32 layer with two m-tiles, one warp a row and m-tile, like the per-row phase; with it
    // the 32-example tf32 kernel ran 1 % slower)
    {
      const float* wq = wts + ldgl(ld + L_WQ);
      if (PREC == 3 && MT == 2 && 2 * R <= GNW) {
        for (int job = gw; job < 2 * R; job += GNW) {
          const int r = job >> 1;
          const int i = s0 + r;
          float* zm = zq + (job & 1) * 16 * sz;
          float acc[1][NTW][4];
          zero<16, NTW>(acc);
          gemm<16, NTW, PREC>(acc, zm + i * W, sz, wq + (long long) r * W * W, KBW, NTW, lane);
          sync_warp();
          store_tile<16, NTW, CS>(acc, zm, sz, i * W, NTW, lane, rank);
        }
      } else {
        for (int r = gw; r < R; r += GNW) {
          const int i = s0 + r;
          float acc[MT][NTW][4];
          zero<EX, NTW>(acc);
          gemm<EX, NTW, PREC>(acc, zq + i * W, sz, wq + (long long) r * W * W, KBW, NTW, lane);
          sync_warp();
          store_tile<EX, NTW, CS>(acc, zq, sz, i * W, NTW, lane, rank);
        }
      }
    }

    // hp heads at a time: K_h = Pk·vk_h and V_h = Pv·vv_h, then attention; O_h replaces Q_h
    {
      const int ntH = m.L * m.dhp / 8;  // n-tiles of one head's keys (or values)
      const int kbK = m.rkp / 16;
      const int kbV = m.rvp / 16;
      const int target = (hp * ntH * (kbK + kbV) + GNW - 1) / GNW;
      const int gK = max(1, min(NTC, target / kbK));
      const int gV = max(1, min(NTC, target / kbV));
      const int jobsV = (ntH + gV - 1) / gV;  // per head
      const int jobsK = (ntH + gK - 1) / gK;
      const long long headK = (long long) m.rkp * m.L * m.dhp;
      const long long headV = (long long) m.rvp * m.L * m.dhp;
      const float* vk = wts + ldgl(ld + L_VK);
      const float* vv = wts + ldgl(ld + L_VV);
      const int hw = m.L * m.dhp;  // one head's keys per example
      for (int h0 = 0; h0 < m.heads; h0 += hp) {
        // the previous heads done with ks / vs; the first heads need no barrier after the queries (the
        // one before attention orders them), so warps with fewer query rows start on keys and values;
        // after a split z·[uk|uv], the keys wait for every block to have read its parts
        if (h0 > 0) {
          sync_cluster<CS>();
        } else if (splitZu) {
          cluster_wait<CS>();
        }
        HF_MARK(h0 == 0 ? T_WQ : T_ATTN);
        if (CS == 4 || (CS == 2 && PREC == 1)) {
          // a 4-block cluster holds all heads: their keys (values) are one product over contiguous
          // n-tiles, dealt out NKV n-tiles a job (independent chains for the warp), in a snake (also
          // the 2-block tf32 kernel: 2 % faster at 1,024; the 2-block 3xTF32 one spills with it, no faster)
          const int ntAll = hp * ntH;
          const int jobsEach = (ntAll + NKV - 1) / NKV;  // key jobs, and as many value jobs
          for (int round = 0;; ++round) {
            const int job = round * GNW + ((round & 1) ? GNW - 1 - gw : gw);
            if (job >= 2 * jobsEach) break;
            const bool isV = job < jobsEach;
            const int n0 = (isV ? job : job - jobsEach) * NKV;
            const int nt = min(NKV, ntAll - n0);
            const int kb = isV ? kbV : kbK;
            const float* bw = (isV ? vv + h0 * headV : vk + h0 * headK) + (long long) n0 * kb * 128;
            float acc[MT][NKV][4];
            zero<EX, NKV>(acc);
            gemm<EX, NKV, PREC, DCL>(acc, isV ? ps + m.rkp : ps, sp, bw, kb, nt, lane);
            store_tile<EX, NKV, CS>(acc, isV ? vs : ks, skv, n0 * 8, nt, lane, rank);
          }
        } else {
          // a lone block deals the jobs out in a snake (odd rounds from the last warp back), so the warps
          // with a second value job get no third job (ref-serving: 10 value jobs of 24 units, 10 key
          // jobs of 12, at most 48 units a warp instead of 60); in clusters plain rounds balance better
          for (int round = 0;; ++round) {
            const int job = round * GNW + (CS == 1 && (round & 1) ? GNW - 1 - gw : gw);
            if (job >= hp * (jobsV + jobsK)) break;
            const int hh = job / (jobsV + jobsK);  // value jobs of all heads first: they take longer
            const int jj = job % (jobsV + jobsK);
            const bool isV = jj < jobsV;
            const int gsz = isV ? gV : gK;
            const int n0 = (isV ? jj : jj - jobsV) * gsz;
            const int nt = min(gsz, ntH - n0);
            const int kb = isV ? kbV : kbK;
            const float* bw = (isV ? vv + (h0 + hh) * headV : vk + (h0 + hh) * headK) + (long long) n0 * kb * 128;
            float acc[MT][NTC][4];
            zero<EX, NTC>(acc);
            gemm<EX, NTC, PREC>(acc, isV ? ps + m.rkp : ps, sp, bw, kb, nt, lane);
            store_tile<EX, NTC, CS>(acc, isV ? vs : ks, skv, hh * hw + n0 * 8, nt, lane, rank);
          }
        }
        sync_cluster<CS>();
        HF_MARK(T_KV);
        // attention: one warp per (head, example), or per (head, two examples) where a layer's queries
        // fill one m-tile (the pruned last layer), so the warp still has two chains
        if (W > 16 && R > 16) {  // (W = 16: two blocks a multiprocessor, 128 registers, no room for two)
          for (int task = gw; task < hp * EX; task += GNW) {
            const int hh = task / EX;
            const int ex = task % EX;
            float* const qh[1] = {zq + ex * sz + (h0 + hh) * m.dhp};
            const float* const kh[1] = {ks + ex * skv + hh * hw};
            const float* const vh[1] = {vs + ex * skv + hh * hw};
            attend<2, 1, W, CS, PREC>(qh, kh, vh, s0, m.L, m.dhp, m.scale, lane, rank);
          }
        } else if (W > 16) {
          for (int task = gw; task < hp * EX / 2; task += GNW) {
            const int hh = task / (EX / 2);
            const int ex = 2 * (task % (EX / 2));
            float* const qh[2] = {zq + ex * sz + (h0 + hh) * m.dhp, zq + (ex + 1) * sz + (h0 + hh) * m.dhp};
            const float* const kh[2] = {ks + ex * skv + hh * hw, ks + (ex + 1) * skv + hh * hw};
            const float* const vh[2] = {vs + ex * skv + hh * hw, vs + (ex + 1) * skv + hh * hw};
            attend<1, 2, W, CS, PREC>(qh, kh, vh, s0, m.L, m.dhp, m.scale, lane, rank);
          }
        } else {
          for (int task = gw; task < hp * EX; task += GNW) {
            const int hh = task / EX;
            const int ex = task % EX;
            float* const qh[1] = {zq + ex * sz + (h0 + hh) * m.dhp};
            const float* const kh[1] = {ks + ex * skv + hh * hw};
            const float* const vh[1] = {vs + ex * skv + hh * hw};
            attend<1, 1, W, CS, PREC>(qh, kh, vh, s0, m.L, m.dhp, m.scale, lane, rank);
          }
        }
      }
      sync_cluster<CS>();
      HF_MARK(T_ATTN);
    }

    // per row: X' = X + O·wo, Y = GELU(LN2(X')·w1 + b1)·w2 + b2, out = X' + Y, all in registers
    {
      const float* wo = wts + ldgl(ld + L_WO);
      const float* g2 = wts + ldgl(ld + L_LN2G);
      const float* b2ln = wts + ldgl(ld + L_LN2B);
      const float* w1 = wts + ldgl(ld + L_W1);
      const float* b1 = wts + ldgl(ld + L_B1);
      const float* w2 = wts + ldgl(ld + L_W2);
      const float* b2 = wts + ldgl(ld + L_B2);
      // A pruned layer has fewer rows than warps: with two m-tiles each m-tile of a row is a job of
      // its own, so twice as many warps share the work.
      if (CS > 1 && R <= CS && l + 1 == m.layers && (NWARP + 1) * W <= 2 * skv) {
        // the pruned last layer in a cluster: a block a row, its FFN shared out over the block's warps
        if ((int) rank < R)
          row_split<EX, W, PREC>(zq, sz, xt, LW, s0 + (int) rank, (int) rank, wo, g2, b2ln, w1, b1, w2, b2, kv, m.d,
                                 m.fp);
      } else if (MT == 2 && 2 * R <= GNW) {
        for (int job = gw; job < 2 * R; job += GNW) {
          const int mt = job & 1;
          row<16, W, CS, PREC, LEAN>(zq + mt * 16 * sz, sz, xt + (long long) mt * 16 * LW, LW, s0 + (job >> 1),
                                     job >> 1, wo, g2, b2ln, w1, b1, w2, b2, ld, wts, l, m.layers, m.d, m.fp, lane,
                                     rank);
        }
      } else {
        for (int r = gw; r < R; r += GNW)
          row<EX, W, CS, PREC, LEAN>(zq, sz, xt, LW, s0 + r, r, wo, g2, b2ln, w1, b1, w2, b2, ld, wts, l, m.layers,
                                     m.d, m.fp, lane, rank);
      }
    }
    sync_cluster<CS>();  // this layer's output is in global memory for all blocks of the cluster
    HF_MARK(T_ROWS);
  }

  // the towers: a block per task where the cluster has enough of them, else all on the first
  if (CS > 1 && m.T <= CS) {
    if ((int) rank >= m.T) return;
    heads<EX, W, PREC>(desc, wts, kv, xt, logits, ex0, nvalid, (int) rank, (int) rank + 1);
  } else {
    if (rank != 0) return;
    heads<EX, W, PREC>(desc, wts, kv, xt, logits, ex0, nvalid, 0, m.T);
  }
  if (rank != 0) return;
#ifdef HF_TRACE
  trace_tile<EX, CS, PREC>(tile, (batch + EX - 1) / EX, batch, traceNs0, traceClock0);
#endif
#ifdef HF_TIMING
  HF_MARK(T_TOWERS);
  if (HF_THREAD_X == 0 && HF_BLOCK_X == HF_TIMING) {
    long long total = 0;
    for (int i = 0; i < T_N; ++i) total += clocks[i];
    printf("timing e%d c%d p%d batch %d clocks: tokens %lld ln1 %lld zu %lld wq %lld kv %lld attn %lld rows %lld "
           "towers %lld total %lld\n", EX, CS, PREC, batch, clocks[T_TOKENS], clocks[T_LN1], clocks[T_ZU], clocks[T_WQ],
           clocks[T_KV], clocks[T_ATTN], clocks[T_ROWS], clocks[T_TOWERS], total);
  }
#endif
}

}  // namespace hf

// ---- entry points: one per (examples per block, padded width, cluster size, precision) ------------

#define HF_ARGS                                                                                       \
  const long long *__restrict__ desc, const float *__restrict__ wts, const int *__restrict__ cat,     \
      const int *__restrict__ bagOff, const int *__restrict__ bagIds, const float *__restrict__ dense, \
      float *__restrict__ xbuf, float *__restrict__ logits, int batch
#define HF_PASS desc, wts, cat, bagOff, bagIds, dense, xbuf, logits, batch

#define HF_KERNEL(EX, W, CS, PREC, MINB)                                                              \
  extern "C" __global__ void __launch_bounds__(256, MINB) HF_CLUSTER_##CS                            \
      hiformer_e##EX##_w##W##_c##CS##_p##PREC##_b##MINB(HF_ARGS) {                                     \
    hf::forward<EX, W, CS, PREC>(HF_PASS);                                                              \
  }

#define HF_CLUSTER_1
#define HF_CLUSTER_2 __cluster_dims__(2, 1, 1)
#define HF_CLUSTER_4 __cluster_dims__(4, 1, 1)

// (EX, W, CS, PREC, min blocks per SM): the variants FusedLayout.java may launch
#define HF_KERNELS(X) \
  X(32, 32, 1, 3, 1)  \
  X(32, 32, 1, 1, 1)  \
  X(16, 32, 1, 3, 1)  \
  X(16, 32, 1, 1, 1)  \
  X(16, 32, 2, 3, 1)  \
  X(16, 32, 2, 1, 1)  \
  X(16, 32, 4, 3, 1)  \
  X(16, 32, 4, 1, 1)  \
  X(16, 16, 1, 3, 2)  \
  X(16, 16, 1, 1, 2)  \
  X(16, 64, 1, 3, 1)  \
  X(16, 64, 1, 1, 1)

HF_KERNELS(HF_KERNEL)

// The training kernels (train.cuh): the same descriptor, dimensions and device functions.
#include "train.cuh"
