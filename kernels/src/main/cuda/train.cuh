// Training on the GPU: the forward pass with its activations saved, the loss, the backward pass and
// the parameter gradients, on the weights buffer the fused forward reads (FusedLayout.java packs it;
// padded, matrices in fragment order). Included at the end of hiformer.cu, so it shares the serving
// kernel's descriptor, dimensions (load_dims), GELU, LayerNorm epsilon and weight packing: one
// change to those changes both. (TrainingLayout.java mirrors the per-example offsets below.)
//
// Two launches a step:
//  - hf_train_step: one block per example. The forward pass (every value the backward needs saved in
//    the example's slice of `act`), its loss and d loss / d logit, then the backward pass down to
//    the tokens, every intermediate gradient saved in the example's slice of `grad`, and dEmb, the
//    gradient of each embedded field's pooled vector.
//  - hf_train_grads: one thread per parameter element (padding lanes included: they come out 0),
//    summing its gradient over the batch's examples in example order from the saved values: no
//    atomics, so the result is the same bit for bit on every run. Blocks take segments (one
//    parameter tensor or per-row slice each, from TrainingLayout's table) along grid.y.
// Everything is fp32 FMA on the CUDA cores in this first version (no tensor cores): correctness first;
// kernels/README.md, "Training kernels", says what limits its speed and where it goes next.
namespace hf {

// Saved activations (A) and gradients (G) of one example: float offsets, W-padded rows.
struct TrLayer {
  int r, s;                                                          // query rows, first query row
  int z1, m1, r1, pkv, k, v, q, p, ao, xp, z2, m2, r2, hid, gel, out;  // in A
  int dout, dh, dz2, dxp, dao, dp, dq, dk, dv, dpkv, dz1;              // in G
};

struct TrHeads {
  int fin, fm, fr, tw, twPer, logit, lossex, sizeA;  // in A; towers: task j's hidden layers at tw + j·twPer
  int dtok, dlogit, dfin, dtw, dtwPer, sizeG;        // in G; tower output gradients of every layer
};

__device__ __forceinline__ int tr_round16(int n) { return (n + 15) / 16 * 16; }

// Padded output width of tower layer k (hidden widths and the logit padded to 16).
__device__ __forceinline__ int tr_tower_out(const long long* desc, const Dims& m, int k) {
  return tr_round16(dget(desc, m.towerBase + 1 + k));
}
__device__ __forceinline__ int tr_tower_in(const long long* desc, const Dims& m, int W, int k) {
  return k == 0 ? W : tr_tower_out(desc, m, k - 1);
}

// Walks the layers in order; returns layer `want`'s offsets (want < 0: none) and the heads'.
__device__ inline TrLayer tr_layout(const long long* desc, const Dims& m, int W, int want, TrHeads* heads) {
  TrLayer out{};
  int a = m.L * W;  // the tokens come first in A
  int g = m.L * W;  // and their gradient in G
  const int LW = m.L * W;
  for (int l = 0; l < m.layers; ++l) {
    TrLayer t;
    t.r = dget(desc, m.layerBase + L_STRIDE * l + L_R);
    t.s = m.L - t.r;
    const int rW = t.r * W;
    t.z1 = a; a += LW;
    t.m1 = a; a += m.L;
    t.r1 = a; a += m.L;
    t.pkv = a; a += m.np;
    t.k = a; a += LW;
    t.v = a; a += LW;
    t.q = a; a += rW;
    t.p = a; a += m.heads * t.r * m.L;
    t.ao = a; a += rW;
    t.xp = a; a += rW;
    t.z2 = a; a += rW;
    t.m2 = a; a += t.r;
    t.r2 = a; a += t.r;
    t.hid = a; a += t.r * m.fp;
    t.gel = a; a += t.r * m.fp;
    t.out = a; a += rW;
    t.dout = g; g += rW;
    t.dh = g; g += t.r * m.fp;
    t.dz2 = g; g += rW;
    t.dxp = g; g += rW;
    t.dao = g; g += rW;
    t.dp = g; g += m.heads * t.r * m.L;
    t.dq = g; g += rW;
    t.dk = g; g += LW;
    t.dv = g; g += LW;
    t.dpkv = g; g += m.np;
    t.dz1 = g; g += LW;
    if (l == want) out = t;
  }
  if (heads) {
    TrHeads& h = *heads;
    h.fin = a; a += m.T * W;
    h.fm = a; a += m.T;
    h.fr = a; a += m.T;
    h.twPer = 0;
    for (int k = 0; k + 1 < m.tdepth; ++k) h.twPer += tr_tower_out(desc, m, k);
    h.tw = a; a += m.T * h.twPer;
    h.logit = a; a += m.T;
    h.lossex = a; a += m.T;
    h.sizeA = a;
    h.dtok = 0;
    h.dlogit = g; g += m.T;
    h.dfin = g; g += m.T * W;
    h.dtwPer = h.twPer + tr_tower_out(desc, m, m.tdepth - 1);
    h.dtw = g; g += m.T * h.dtwPer;
    h.sizeG = g;
  }
  return out;
}

// Where element (row, col) of a [K, N] matrix lives in fragment order (FusedLayout.fragments):
// n-tile, k-block, lane (g, t), then one of the lane's four floats.
__device__ __forceinline__ int frag_off(int row, int col, int kbs, bool chained) {
  const int nt = col >> 3, g = col & 7, kb = row >> 4, rr = row & 15;
  const int t = chained ? (rr & 7) >> 1 : rr >> 2;
  const int c = chained ? ((rr >> 3) << 1) | (rr & 1) : rr & 3;
  return (((nt * kbs + kb) * 32 + g * 4 + t) << 2) + c;
}

__device__ __forceinline__ long long lslot(const long long* desc, const Dims& m, int l, int role) {
  return ldgl(desc + m.layerBase + L_STRIDE * l + role);
}
__device__ __forceinline__ long long tower_slot(const long long* desc, const Dims& m, int j, int k) {
  return ldgl(desc + m.towerBase + m.tdepth + 1 + 2 * (j * m.tdepth + k));
}
__device__ __forceinline__ long long tower_bias_slot(const long long* desc, const Dims& m, int j, int k) {
  return ldgl(desc + m.towerBase + m.tdepth + 2 + 2 * (j * m.tdepth + k));
}

#ifdef HF_EMULATE
#define HF_TRAP() abort()
#else
#define HF_TRAP() __trap()
#endif

// GELU's derivative, in the form of gelu() above: with σ = 1/(1 + e^{-2u}), gelu = x·σ and
// gelu' = σ + 2x·σ(1 - σ)·u'.
__device__ __forceinline__ float gelu_grad(float x) {
  const float c0 = 0.7978845608028654f;
  const float u = c0 * (x + 0.044715f * x * x * x);
  const float sg = 1.f / (1.f + expf(-2.f * u));
  const float du = c0 * (1.f + 3.f * 0.044715f * x * x);
  return sg + 2.f * x * sg * (1.f - sg) * du;
}

// LayerNorm of `rows` rows of W floats (the real d normalised, padding written 0), one thread a row.
__device__ inline void tr_layer_norm(int rows, int d, int W, const float* x, const float* gam, const float* bet,
                                     float* z, float* mean, float* rstd, int tid) {
  for (int j = tid; j < rows; j += NTHREADS) {
    const float* xr = x + j * W;
    float s = 0.f;
    for (int c = 0; c < d; ++c) s += xr[c];
    const float mu = s / d;
    float var = 0.f;
    for (int c = 0; c < d; ++c) {
      const float e = xr[c] - mu;
      var += e * e;
    }
    const float rs = 1.f / sqrtf(var / d + LN_EPS);
    mean[j] = mu;
    rstd[j] = rs;
    for (int c = 0; c < W; ++c) z[j * W + c] = c < d ? (xr[c] - mu) * rs * gam[c] + bet[c] : 0.f;
  }
}

// LayerNorm backward of one row: dx[c] = add[c] + rstd·(g - mean(g) - x̂·mean(g·x̂)), g = dz·γ.
__device__ inline void tr_layer_norm_back(int d, int W, const float* dz, const float* x, float mu, float rs,
                                          const float* gam, const float* add, float* dx) {
  float sg = 0.f, sgx = 0.f;
  for (int c = 0; c < d; ++c) {
    const float g = dz[c] * gam[c];
    sg += g;
    sgx += g * (x[c] - mu) * rs;
  }
  const float mg = sg / d, mgx = sgx / d;
  for (int c = 0; c < W; ++c) {
    const float base = add ? add[c] : 0.f;
    dx[c] = c < d ? base + rs * (dz[c] * gam[c] - mg - (x[c] - mu) * rs * mgx) : base;
  }
}

// ---- one example forward, loss, backward ---------------------------------------------------------------

__device__ void train_step(const long long* __restrict__ desc, const float* __restrict__ wts,
                           const int* __restrict__ cat, const int* __restrict__ bagOff,
                           const int* __restrict__ bagIds, const float* __restrict__ dense,
                           const float* __restrict__ labels, const float* __restrict__ mask, float* __restrict__ act,
                           float* __restrict__ grad, float* __restrict__ logits, float* __restrict__ dEmb,
                           long long strideA, long long strideG, int lossBatch) {
  const Dims m = load_dims(desc);
  const int W = dget(desc, D_W);
  const int b = HF_BLOCK_X;
  const int tid = HF_THREAD_X;
  const int d = m.d, L = m.L, LW = L * W, T = m.T;
  TrHeads hd;
  tr_layout(desc, m, W, -1, &hd);
  if (hd.sizeA > strideA || hd.sizeG > strideG) HF_TRAP();
  float* A = act + b * strideA;
  float* G = grad + b * strideG;

  // tokens: embedded fields (bags averaged), dense tokens, task tokens
  for (int idx = tid; idx < LW; idx += NTHREADS) {
    const int j = idx / W, c = idx % W;
    float v = 0.f;
    if (j < m.nemb) {
      const int slot = dget(desc, m.fieldBase + 2 * j);
      const float* table = wts + ldgl(desc + m.fieldBase + 2 * j + 1);
      if (slot >= 0) {
        v = table[(long long) cat[b * m.ncat + slot] * W + c];
      } else {
        const int k = -1 - slot;
        const int st = bagOff[b * m.nbag + k], en = bagOff[b * m.nbag + k + 1];
        const float inv = 1.f / (float) max(1, en - st);
        for (int p = st; p < en; ++p) v += inv * table[(long long) bagIds[p] * W + c];
      }
    } else if (j < m.nemb + m.dt) {
      const int t = j - m.nemb;
      const float* dw = wts + ldgl(desc + D_DENSE_W);
      for (int k = 0; k < m.ndense; ++k) v += dense[b * m.ndense + k] * dw[(k * m.dt + t) * W + c];
      v += wts[ldgl(desc + D_DENSE_B) + t * W + c];
    } else {
      v = wts[ldgl(desc + D_TASK) + (j - m.nemb - m.dt) * W + c];
    }
    A[idx] = v;
  }
  sync_block();

  const float* x = A;  // the layer's input [L, W]
  for (int l = 0; l < m.layers; ++l) {
    const TrLayer t = tr_layout(desc, m, W, l, nullptr);
    const int r = t.r, s = t.s;
    tr_layer_norm(L, d, W, x, wts + lslot(desc, m, l, L_LN1G), wts + lslot(desc, m, l, L_LN1B), A + t.z1, A + t.m1,
                  A + t.r1, tid);
    sync_block();
    const float* z1 = A + t.z1;
    {  // z·[uk | uv]: [L·W, np]
      const float* u = wts + lslot(desc, m, l, L_UCAT);
      const int kbs = LW / 16;
      for (int c = tid; c < m.np; c += NTHREADS) {
        float acc = 0.f;
        for (int i = 0; i < LW; ++i) acc += z1[i] * u[frag_off(i, c, kbs, false)];
        A[t.pkv + c] = acc;
      }
    }
    sync_block();
    {  // keys and values [L, W] (head-padded columns) and queries [r, W]
      const float* vk = wts + lslot(desc, m, l, L_VK);
      const float* vv = wts + lslot(desc, m, l, L_VV);
      const float* wq = wts + lslot(desc, m, l, L_WQ);
      const int cols = L * m.dhp;
      for (int idx = tid; idx < 2 * LW + r * W; idx += NTHREADS) {
        if (idx < 2 * LW) {
          const bool isV = idx >= LW;
          const int e = isV ? idx - LW : idx;
          const int j = e / W, col = e % W, h = col / m.dhp, cc = col % m.dhp;
          float acc = 0.f;
          if (h < m.heads) {
            const int rank = isV ? m.rvp : m.rkp;
            const float* mat = (isV ? vv : vk) + (long long) h * rank * cols;
            const float* pk = A + t.pkv + (isV ? m.rkp : 0);
            for (int q = 0; q < rank; ++q) acc += pk[q] * mat[frag_off(q, j * m.dhp + cc, rank / 16, false)];
          }
          A[(isV ? t.v : t.k) + e] = acc;
        } else {
          const int e = idx - 2 * LW, i = e / W, col = e % W;
          const float* w = wq + (long long) i * W * W;
          float acc = 0.f;
          for (int f = 0; f < d; ++f) acc += z1[(s + i) * W + f] * w[frag_off(f, col, W / 16, false)];
          A[t.q + e] = acc;
        }
      }
    }
    sync_block();
    for (int hi = tid; hi < m.heads * r; hi += NTHREADS) {  // softmax(scale·q·kᵀ), a thread a (head, row)
      const int h = hi / r, i = hi % r;
      float* p = A + t.p + hi * L;
      const float* q = A + t.q + i * W + h * m.dhp;
      float mx = -3.4e38f;
      for (int j = 0; j < L; ++j) {
        const float* k = A + t.k + j * W + h * m.dhp;
        float acc = 0.f;
        for (int c = 0; c < m.dh; ++c) acc += q[c] * k[c];
        p[j] = acc * m.scale;
        mx = fmaxf(mx, p[j]);
      }
      float sum = 0.f;
      for (int j = 0; j < L; ++j) {
        p[j] = expf(p[j] - mx);
        sum += p[j];
      }
      const float inv = 1.f / sum;
      for (int j = 0; j < L; ++j) p[j] *= inv;
    }
    sync_block();
    for (int e = tid; e < r * W; e += NTHREADS) {  // attention output, head-padded columns
      const int i = e / W, col = e % W, h = col / m.dhp;
      float acc = 0.f;
      if (h < m.heads && col % m.dhp < m.dh) {
        const float* p = A + t.p + (h * r + i) * L;
        for (int j = 0; j < L; ++j) acc += p[j] * A[t.v + j * W + col];
      }
      A[t.ao + e] = acc;
    }
    sync_block();
    {  // X' = X[s..] + O·wo
      const float* wo = wts + lslot(desc, m, l, L_WO);
      for (int e = tid; e < r * W; e += NTHREADS) {
        const int i = e / W, f = e % W;
        const float* w = wo + (long long) i * W * W;
        float acc = 0.f;
        for (int c = 0; c < W; ++c) acc += A[t.ao + i * W + c] * w[frag_off(c, f, W / 16, false)];
        A[t.xp + e] = x[(s + i) * W + f] + acc;
      }
    }
    sync_block();
    tr_layer_norm(r, d, W, A + t.xp, wts + lslot(desc, m, l, L_LN2G), wts + lslot(desc, m, l, L_LN2B), A + t.z2,
                  A + t.m2, A + t.r2, tid);
    sync_block();
    {  // FFN hidden: GELU(z2·w1 + b1)
      const float* w1 = wts + lslot(desc, m, l, L_W1);
      const float* b1 = wts + lslot(desc, m, l, L_B1);
      for (int e = tid; e < r * m.fp; e += NTHREADS) {
        const int i = e / m.fp, u = e % m.fp;
        const float* w = w1 + (long long) i * W * m.fp;
        float acc = 0.f;
        for (int c = 0; c < d; ++c) acc += A[t.z2 + i * W + c] * w[frag_off(c, u, W / 16, true)];
        acc += b1[i * m.fp + u];
        A[t.hid + e] = acc;
        A[t.gel + e] = gelu(acc);
      }
    }
    sync_block();
    {  // out = X' + gelu·w2 + b2
      const float* w2 = wts + lslot(desc, m, l, L_W2);
      const float* b2 = wts + lslot(desc, m, l, L_B2);
      for (int e = tid; e < r * W; e += NTHREADS) {
        const int i = e / W, f = e % W;
        const float* w = w2 + (long long) i * m.fp * W;
        float acc = 0.f;
        for (int u = 0; u < m.fp; ++u) acc += A[t.gel + i * m.fp + u] * w[frag_off(u, f, m.fp / 16, true)];
        A[t.out + e] = A[t.xp + e] + acc + b2[i * W + f];
      }
    }
    sync_block();
    x = A + t.out;
  }

  // heads: final LayerNorm of the task tokens, towers, logits, loss
  const TrLayer last = tr_layout(desc, m, W, m.layers - 1, nullptr);
  const float* xl = A + last.out + (last.r - T) * W;
  tr_layer_norm(T, d, W, xl, wts + ldgl(desc + D_FINAL_G), wts + ldgl(desc + D_FINAL_B), A + hd.fin, A + hd.fm,
                A + hd.fr, tid);
  sync_block();
  {
    int hoff = 0;
    for (int k = 0; k < m.tdepth; ++k) {
      const int in = tr_tower_in(desc, m, W, k), outp = tr_tower_out(desc, m, k);
      const bool top = k == m.tdepth - 1;
      for (int e = tid; e < T * (top ? 1 : outp); e += NTHREADS) {
        const int j = top ? e : e / outp, o = top ? 0 : e % outp;
        const float* xin = k == 0 ? A + hd.fin + j * W : A + hd.tw + j * hd.twPer + hoff - in;
        const float* w = wts + tower_slot(desc, m, j, k);
        float acc = 0.f;
        for (int i = 0; i < in; ++i) acc += xin[i] * w[frag_off(i, o, in / 16, false)];
        acc += wts[tower_bias_slot(desc, m, j, k) + o];
        if (top) {
          A[hd.logit + j] = acc;
        } else {
          A[hd.tw + j * hd.twPer + hoff + o] = fmaxf(acc, 0.f);
        }
      }
      sync_block();
      hoff += top ? 0 : outp;
    }
  }
  for (int j = tid; j < T; j += NTHREADS) {  // BCE with logits; d loss / d logit = mask·(σ(z) - y) / B
    const float z = A[hd.logit + j];
    const float mk = mask[b * T + j], y = labels[b * T + j];
    A[hd.lossex + j] = mk != 0.f ? mk * (fmaxf(z, 0.f) - z * y + log1pf(expf(-fabsf(z)))) : 0.f;
    const float p = 1.f / (1.f + expf(-z));
    G[hd.dlogit + j] = mk * (p - y) / (float) lossBatch;
    logits[b * T + j] = z;
  }
  sync_block();

  // ---- backward: towers ----
  for (int k = m.tdepth - 1; k >= 0; --k) {
    const int in = tr_tower_in(desc, m, W, k), outp = tr_tower_out(desc, m, k);
    int hoff = 0;  // task j's output gradient of layer k at dtw + j·dtwPer + hoff
    for (int kk = 0; kk < k; ++kk) hoff += tr_tower_out(desc, m, kk);
    if (k == m.tdepth - 1) {
      for (int e = tid; e < T * outp; e += NTHREADS) {
        const int j = e / outp, o = e % outp;
        G[hd.dtw + j * hd.dtwPer + hoff + o] = o == 0 ? G[hd.dlogit + j] : 0.f;
      }
      sync_block();
    }
    for (int e = tid; e < T * in; e += NTHREADS) {
      const int j = e / in, i = e % in;
      const float* w = wts + tower_slot(desc, m, j, k);
      const float* dy = G + hd.dtw + j * hd.dtwPer + hoff;
      float acc = 0.f;
      for (int o = 0; o < outp; ++o) acc += dy[o] * w[frag_off(i, o, in / 16, false)];
      if (k > 0) {
        const float h = A[hd.tw + j * hd.twPer + hoff - in + i];
        G[hd.dtw + j * hd.dtwPer + hoff - in + i] = h > 0.f ? acc : 0.f;
      } else {
        G[hd.dfin + j * W + i] = acc;
      }
    }
    sync_block();
  }
  {  // final LayerNorm backward into the last layer's output gradient (zero on rows it does not read)
    float* dout = G + last.dout;
    for (int e = tid; e < (last.r - T) * W; e += NTHREADS) dout[e] = 0.f;
    for (int j = tid; j < T; j += NTHREADS) {
      tr_layer_norm_back(d, W, G + hd.dfin + j * W, xl + j * W, A[hd.fm + j], A[hd.fr + j], wts + ldgl(desc + D_FINAL_G),
                         nullptr, dout + (last.r - T + j) * W);
    }
  }
  sync_block();

  // ---- backward: layers ----
  for (int l = m.layers - 1; l >= 0; --l) {
    const TrLayer t = tr_layout(desc, m, W, l, nullptr);
    const int r = t.r, s = t.s;
    const float* xin = l == 0 ? A : A + tr_layout(desc, m, W, l - 1, nullptr).out;
    float* dxin = l == 0 ? G + hd.dtok : G + tr_layout(desc, m, W, l - 1, nullptr).dout;
    {  // dH = (dOut·w2ᵀ)·gelu'(hid)
      const float* w2 = wts + lslot(desc, m, l, L_W2);
      for (int e = tid; e < r * m.fp; e += NTHREADS) {
        const int i = e / m.fp, u = e % m.fp;
        const float* w = w2 + (long long) i * m.fp * W;
        float acc = 0.f;
        for (int f = 0; f < W; ++f) acc += G[t.dout + i * W + f] * w[frag_off(u, f, m.fp / 16, true)];
        G[t.dh + e] = acc * gelu_grad(A[t.hid + e]);
      }
    }
    sync_block();
    {  // dZ2 = dH·w1ᵀ
      const float* w1 = wts + lslot(desc, m, l, L_W1);
      for (int e = tid; e < r * W; e += NTHREADS) {
        const int i = e / W, c = e % W;
        const float* w = w1 + (long long) i * W * m.fp;
        float acc = 0.f;
        for (int u = 0; u < m.fp; ++u) acc += G[t.dh + i * m.fp + u] * w[frag_off(c, u, W / 16, true)];
        G[t.dz2 + e] = acc;
      }
    }
    sync_block();
    for (int i = tid; i < r; i += NTHREADS) {  // dX' = dOut + LN2 backward
      tr_layer_norm_back(d, W, G + t.dz2 + i * W, A + t.xp + i * W, A[t.m2 + i], A[t.r2 + i],
                         wts + lslot(desc, m, l, L_LN2G), G + t.dout + i * W, G + t.dxp + i * W);
    }
    sync_block();
    {  // dO = dX'·woᵀ
      const float* wo = wts + lslot(desc, m, l, L_WO);
      for (int e = tid; e < r * W; e += NTHREADS) {
        const int i = e / W, c = e % W;
        const float* w = wo + (long long) i * W * W;
        float acc = 0.f;
        for (int f = 0; f < W; ++f) acc += G[t.dxp + i * W + f] * w[frag_off(c, f, W / 16, false)];
        G[t.dao + e] = acc;
      }
    }
    sync_block();
    for (int hi = tid; hi < m.heads * r; hi += NTHREADS) {  // dS = scale·P∘(dP - Σ P·dP)
      const int h = hi / r, i = hi % r;
      const float* p = A + t.p + hi * L;
      const float* dO = G + t.dao + i * W + h * m.dhp;
      float* ds = G + t.dp + hi * L;
      float dot = 0.f;
      for (int j = 0; j < L; ++j) {
        const float* v = A + t.v + j * W + h * m.dhp;
        float acc = 0.f;
        for (int c = 0; c < m.dh; ++c) acc += dO[c] * v[c];
        ds[j] = acc;
        dot += p[j] * acc;
      }
      for (int j = 0; j < L; ++j) ds[j] = p[j] * (ds[j] - dot) * m.scale;
    }
    sync_block();
    for (int idx = tid; idx < r * W + 2 * LW; idx += NTHREADS) {  // dQ, dK, dV
      if (idx < r * W) {
        const int i = idx / W, col = idx % W, h = col / m.dhp;
        float acc = 0.f;
        if (h < m.heads) {
          const float* ds = G + t.dp + (h * r + i) * L;
          for (int j = 0; j < L; ++j) acc += ds[j] * A[t.k + j * W + col];
        }
        G[t.dq + idx] = acc;
      } else {
        const bool isV = idx >= r * W + LW;
        const int e = idx - r * W - (isV ? LW : 0);
        const int j = e / W, col = e % W, h = col / m.dhp;
        float acc = 0.f;
        if (h < m.heads) {
          for (int i = 0; i < r; ++i) {
            acc += isV ? A[t.p + (h * r + i) * L + j] * G[t.dao + i * W + col]
                       : G[t.dp + (h * r + i) * L + j] * A[t.q + i * W + col];
          }
        }
        G[(isV ? t.dv : t.dk) + e] = acc;
      }
    }
    sync_block();
    {  // d[pk | pv] = dK·vkᵀ | dV·vvᵀ, head by head
      const float* vk = wts + lslot(desc, m, l, L_VK);
      const float* vv = wts + lslot(desc, m, l, L_VV);
      const int cols = L * m.dhp;
      for (int c = tid; c < m.np; c += NTHREADS) {
        const bool isV = c >= m.rkp;
        const int q = isV ? c - m.rkp : c, rank = isV ? m.rvp : m.rkp;
        const float* dkv = G + (isV ? t.dv : t.dk);
        float acc = 0.f;
        for (int h = 0; h < m.heads; ++h) {
          const float* mat = (isV ? vv : vk) + (long long) h * rank * cols;
          for (int j = 0; j < L; ++j) {
            for (int cc = 0; cc < m.dh; ++cc) {
              acc += dkv[j * W + h * m.dhp + cc] * mat[frag_off(q, j * m.dhp + cc, rank / 16, false)];
            }
          }
        }
        G[t.dpkv + c] = acc;
      }
    }
    sync_block();
    {  // dZ1 = d[pk|pv]·[uk|uv]ᵀ, plus dQ·wqᵀ on the query rows
      const float* u = wts + lslot(desc, m, l, L_UCAT);
      const float* wq = wts + lslot(desc, m, l, L_WQ);
      for (int e = tid; e < LW; e += NTHREADS) {
        const int j = e / W, f = e % W;
        float acc = 0.f;
        for (int c = 0; c < m.np; ++c) acc += G[t.dpkv + c] * u[frag_off(e, c, LW / 16, false)];
        if (j >= s) {
          const float* w = wq + (long long) (j - s) * W * W;
          for (int col = 0; col < W; ++col) acc += G[t.dq + (j - s) * W + col] * w[frag_off(f, col, W / 16, false)];
        }
        G[t.dz1 + e] = acc;
      }
    }
    sync_block();
    for (int j = tid; j < L; j += NTHREADS) {  // dX = LN1 backward + the residual's dX' on the query rows
      tr_layer_norm_back(d, W, G + t.dz1 + j * W, xin + j * W, A[t.m1 + j], A[t.r1 + j],
                         wts + lslot(desc, m, l, L_LN1G), j >= s ? G + t.dxp + (j - s) * W : nullptr, dxin + j * W);
    }
    sync_block();
  }
  for (int e = tid; e < m.nemb * d; e += NTHREADS) {  // the pooled vectors' gradient, [nemb, d]
    dEmb[(long long) b * m.nemb * d + e] = G[hd.dtok + (e / d) * W + e % d];
  }
}

// ---- parameter gradients: a thread an element, summed over the batch in example order -------------

// Segment kinds (TrainingLayout.java writes the table: kind, layer, index, offset, rows, cols)
enum : int {
  G_LN1G, G_LN1B, G_WQ, G_UCAT, G_VK, G_VV, G_WO, G_LN2G, G_LN2B, G_W1, G_B1, G_W2, G_B2, G_DENSE_W, G_DENSE_B,
  G_TASK, G_FINAL_G, G_FINAL_B, G_TOWER_W, G_TOWER_B, G_LOSS, G_SEG_INTS = 6
};

__device__ void train_grads(const long long* __restrict__ desc, const int* __restrict__ segs,
                            const float* __restrict__ dense, const float* __restrict__ act,
                            const float* __restrict__ grad, float* __restrict__ out, float* __restrict__ loss,
                            long long strideA, long long strideG, int n, int lossBatch, int accumulate,
                            int blocksPerSeg) {
  const Dims m = load_dims(desc);
  const int W = dget(desc, D_W);
  const int* sg = segs + G_SEG_INTS * (HF_BLOCK_X / blocksPerSeg);
  const int kind = sg[0], l = sg[1], idx = sg[2], off = sg[3], rows = sg[4], cols = sg[5];
  TrHeads hd;
  const TrLayer t = tr_layout(desc, m, W, kind <= G_B2 ? l : -1, &hd);
  for (int e = HF_BLOCK_X % blocksPerSeg * NTHREADS + HF_THREAD_X; e < rows * cols; e += NTHREADS * blocksPerSeg) {
    const int row = e / cols, col = e % cols;
    float acc = 0.f;
    int at = off + e;  // plain row-major; matrices the tensor cores read are in fragment order
    switch (kind) {
      case G_LN1G:
      case G_LN1B:
      case G_LN2G:
      case G_LN2B:
      case G_FINAL_G:
      case G_FINAL_B: {
        if (col >= m.d) break;
        const bool gamma = kind == G_LN1G || kind == G_LN2G || kind == G_FINAL_G;
        const int nr = kind <= G_LN1B ? m.L : kind <= G_LN2B ? t.r : m.T;
        const TrLayer prev = kind <= G_LN1B && l > 0 ? tr_layout(desc, m, W, l - 1, nullptr) : t;
        const TrLayer last = kind >= G_FINAL_G ? tr_layout(desc, m, W, m.layers - 1, nullptr) : t;
        for (int b = 0; b < n; ++b) {
          const float* A = act + b * strideA;
          const float* G = grad + b * strideG;
          for (int j = 0; j < nr; ++j) {
            float dz, xv, mu, rs;
            if (kind <= G_LN1B) {
              dz = G[t.dz1 + j * W + col];
              xv = l == 0 ? A[j * W + col] : A[prev.out + j * W + col];
              mu = A[t.m1 + j];
              rs = A[t.r1 + j];
            } else if (kind <= G_LN2B) {
              dz = G[t.dz2 + j * W + col];
              xv = A[t.xp + j * W + col];
              mu = A[t.m2 + j];
              rs = A[t.r2 + j];
            } else {
              dz = G[hd.dfin + j * W + col];
              xv = A[last.out + (last.r - m.T + j) * W + col];
              mu = A[hd.fm + j];
              rs = A[hd.fr + j];
            }
            acc += gamma ? dz * (xv - mu) * rs : dz;
          }
        }
        break;
      }
      case G_WQ:
      case G_WO:
      case G_W1:
      case G_W2:
      case G_UCAT:
      case G_VK:
      case G_VV:
      case G_TOWER_W: {
        const bool chained = kind == G_W1 || kind == G_W2;
        at = off + frag_off(row, col, rows / 16, chained);
        for (int b = 0; b < n; ++b) {
          const float* A = act + b * strideA;
          const float* G = grad + b * strideG;
          float xv, dy;
          switch (kind) {
            case G_WQ: xv = A[t.z1 + (t.s + idx) * W + row]; dy = G[t.dq + idx * W + col]; break;
            case G_WO: xv = A[t.ao + idx * W + row]; dy = G[t.dxp + idx * W + col]; break;
            case G_W1: xv = A[t.z2 + idx * W + row]; dy = G[t.dh + idx * m.fp + col]; break;
            case G_W2: xv = A[t.gel + idx * m.fp + row]; dy = G[t.dout + idx * W + col]; break;
            case G_UCAT: xv = A[t.z1 + row]; dy = G[t.dpkv + col]; break;
            case G_VK:
            case G_VV: {
              const int j = col / m.dhp, cc = col % m.dhp;
              xv = A[t.pkv + (kind == G_VV ? m.rkp : 0) + row];
              dy = cc < m.dh ? G[(kind == G_VV ? t.dv : t.dk) + j * W + idx * m.dhp + cc] : 0.f;
              break;
            }
            default: {  // tower idx = j·depth + k
              const int j = idx / m.tdepth, k = idx % m.tdepth;
              int hoff = 0;
              for (int kk = 0; kk < k; ++kk) hoff += tr_tower_out(desc, m, kk);
              xv = k == 0 ? A[hd.fin + j * W + row] : A[hd.tw + j * hd.twPer + hoff - rows + row];
              dy = G[hd.dtw + j * hd.dtwPer + hoff + col];
            }
          }
          acc += xv * dy;
        }
        break;
      }
      case G_B1:
      case G_B2:
        for (int b = 0; b < n; ++b) {
          const float* G = grad + b * strideG;
          acc += kind == G_B1 ? G[t.dh + idx * m.fp + col] : G[t.dout + idx * W + col];
        }
        break;
      case G_DENSE_W:
        for (int b = 0; b < n; ++b) acc += dense[b * m.ndense + row] * grad[b * strideG + hd.dtok + m.nemb * W + col];
        break;
      case G_DENSE_B:
        for (int b = 0; b < n; ++b) acc += grad[b * strideG + hd.dtok + m.nemb * W + col];
        break;
      case G_TASK:
        for (int b = 0; b < n; ++b) acc += grad[b * strideG + hd.dtok + (m.nemb + m.dt) * W + col];
        break;
      case G_TOWER_B: {
        const int j = idx / m.tdepth, k = idx % m.tdepth;
        int hoff = 0;
        for (int kk = 0; kk < k; ++kk) hoff += tr_tower_out(desc, m, kk);
        for (int b = 0; b < n; ++b) acc += grad[b * strideG + hd.dtw + j * hd.dtwPer + hoff + col];
        break;
      }
      case G_LOSS: {  // the loss of task idx: Σ mask·BCE / B
        for (int b = 0; b < n; ++b) acc += act[b * strideA + hd.lossex + idx];
        loss[idx] = acc / (float) lossBatch;
        continue;
      }
    }
    out[at] = accumulate ? out[at] + acc : acc;
  }
}

}  // namespace hf

#define HF_TRAIN_STEP_ARGS                                                                                      \
  const long long *__restrict__ desc, const float *__restrict__ wts, const int *__restrict__ cat,                \
      const int *__restrict__ bagOff, const int *__restrict__ bagIds, const float *__restrict__ dense,            \
      const float *__restrict__ labels, const float *__restrict__ mask, float *__restrict__ act,                  \
      float *__restrict__ grad, float *__restrict__ logits, float *__restrict__ dEmb, long long strideA,          \
      long long strideG, int lossBatch
#define HF_TRAIN_GRADS_ARGS                                                                                      \
  const long long *__restrict__ desc, const int *__restrict__ segs, const float *__restrict__ dense,              \
      const float *__restrict__ act, const float *__restrict__ grad, float *__restrict__ out,                     \
      float *__restrict__ loss, long long strideA, long long strideG, int n, int lossBatch, int accumulate,   \
      int blocksPerSeg

extern "C" __global__ void __launch_bounds__(256, 1) hf_train_step(HF_TRAIN_STEP_ARGS) {
  hf::train_step(desc, wts, cat, bagOff, bagIds, dense, labels, mask, act, grad, logits, dEmb, strideA, strideG,
                 lossBatch);
}

extern "C" __global__ void __launch_bounds__(256, 1) hf_train_grads(HF_TRAIN_GRADS_ARGS) {
  hf::train_grads(desc, segs, dense, act, grad, out, loss, strideA, strideG, n, lossBatch, accumulate, blocksPerSeg);
}
