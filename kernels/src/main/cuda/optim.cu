// The optimiser of a training step on the GPU, exactly as training/Adam.java and Trainer.java define
// it, over weights packed by FusedLayout.java (the serving layout: padding lanes are zero and stay
// zero, since their gradients are zero): dense Adam with bias correction and decoupled weight decay
// over the packed non-embedding parameters; for embedding tables, the gradient of each touched row
// gathered from dEmb (the gradient of each embedded field's pooled vector, [B][nemb][d]) in a fixed
// order, then lazy Adam on that row only, after it pays the decoupled decay it owes (Adam.settleRow);
// the weight moving average; a check that gradients are finite. Launched by FusedOptimizer.java.
//
// Arithmetic follows Adam.java operation by operation: moments and the step in double, weights and
// moments stored as float, the weight decay and the moving average in float. The _rn intrinsics keep
// nvcc from fusing a multiply and an add into one FMA, which rounds once where Java rounds twice.
//
// Every thread works alone (no shared memory, no barriers), so the CPU emulation (test/cuda/emu_adam.cpp)
// may run the threads in any order.
#ifdef HF_EMULATE
#include <cmath>
#define HF_OPT_DEVICE inline
static inline float o_fmul(float a, float b) { return a * b; }
static inline float o_fadd(float a, float b) { return a + b; }
static inline float o_fsub(float a, float b) { return a - b; }
static inline double o_dmul(double a, double b) { return a * b; }
static inline double o_dadd(double a, double b) { return a + b; }
static inline double o_ddiv(double a, double b) { return a / b; }
static inline bool finite_f(float x) { return std::isfinite(x); }
#else
#define HF_OPT_DEVICE __device__ __forceinline__
HF_OPT_DEVICE float o_fmul(float a, float b) { return __fmul_rn(a, b); }
HF_OPT_DEVICE float o_fadd(float a, float b) { return __fadd_rn(a, b); }
HF_OPT_DEVICE float o_fsub(float a, float b) { return __fsub_rn(a, b); }
HF_OPT_DEVICE double o_dmul(double a, double b) { return __dmul_rn(a, b); }
HF_OPT_DEVICE double o_dadd(double a, double b) { return __dadd_rn(a, b); }
HF_OPT_DEVICE double o_ddiv(double a, double b) { return __ddiv_rn(a, b); }
HF_OPT_DEVICE bool finite_f(float x) { return isfinite(x); }
#endif

struct AdamArgs {
  double lr, c1, c2, b1, b2, eps;
};

// Adam.update for one element: gi = g + l2·w; m, v as float; w -= (float) (lr·(m/c1) / (sqrt(v/c2) + eps)).
HF_OPT_DEVICE void adam_element(float* w, float* m, float* v, float g, double l2, const AdamArgs& a) {
  const float wi = *w;
  const double gi = o_dadd((double) g, o_dmul(l2, (double) wi));
  const float m1 = (float) o_dadd(o_dmul(a.b1, (double) *m), o_dmul(1 - a.b1, gi));
  const float m2 = (float) o_dadd(o_dmul(a.b2, (double) *v), o_dmul(o_dmul(1 - a.b2, gi), gi));
  *m = m1;
  *v = m2;
  const double step = o_ddiv(o_dmul(a.lr, o_ddiv((double) m1, a.c1)), o_dadd(sqrt(o_ddiv((double) m2, a.c2)), a.eps));
  *w = o_fsub(wi, (float) step);
}

// Dense parameters [0, n) of the packed buffer: w *= keep (decoupled decay, skipped at keep = 1), then Adam.
extern "C" __global__ void hf_adam_dense(float* w, float* m, float* v, const float* g, int n, float keep,
                                         double lr, double c1, double c2, double b1, double b2, double eps) {
  const long i = (long) blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  if (keep != 1.0f) w[i] = o_fmul(w[i], keep);
  const AdamArgs a{lr, c1, c2, b1, b2, eps};
  adam_element(w + i, m + i, v + i, g[i], 0.0, a);
}

// Touched embedding rows, one warp a row (lanes over its d features). Row u starts at float rowOff[u]
// of the packed buffer; its gradient is the sum over k in [cstart[u], cstart[u+1]) of
// cscale[k]·dEmb[csrc[k]·d + j] (csrc = example·nemb + field; cscale 1, or 1/n for a bag of n ids), in
// that order. With paid non-null the row first pays its owed decay: w *= (float) (decay / paid[rowPaid[u]])
// (hf_paid_rows records the payment afterwards, so no lane reads a paid value another has written).
extern "C" __global__ void hf_adam_rows(float* w, float* m, float* v, const float* demb, const int* rowOff,
                                        const int* rowPaid, const int* cstart, const int* csrc,
                                        const float* cscale, int rows, int d, const double* paid, double decay,
                                        double l2, double lr, double c1, double c2, double b1, double b2,
                                        double eps) {
  const long t = (long) blockIdx.x * blockDim.x + threadIdx.x;
  const long u = t >> 5;
  const int lane = (int) (t & 31);
  if (u >= rows) return;
  const AdamArgs a{lr, c1, c2, b1, b2, eps};
  float factor = 1.0f;
  if (paid != nullptr) factor = (float) o_ddiv(decay, paid[rowPaid[u]]);
  const long off = rowOff[u];
  const int k0 = cstart[u];
  const int k1 = cstart[u + 1];
  for (int j = lane; j < d; j += 32) {
    float g = 0.0f;
    for (int k = k0; k < k1; ++k) g = o_fadd(g, o_fmul(cscale[k], demb[(long) csrc[k] * d + j]));
    if (factor != 1.0f) w[off + j] = o_fmul(w[off + j], factor);
    adam_element(w + off + j, m + off + j, v + off + j, g, l2, a);
  }
}

// Records that the touched rows have paid their decay up to `decay`.
extern "C" __global__ void hf_paid_rows(double* paid, const int* rowPaid, int rows, double decay) {
  const long u = (long) blockIdx.x * blockDim.x + threadIdx.x;
  if (u < rows) paid[rowPaid[u]] = decay;
}

// Adam.settle for one table: every row pays what it owes. The table's rows start at float `off` of the
// packed buffer, `stride` apart, d features each; its paid values start at paid[paidBase]. One warp a row.
extern "C" __global__ void hf_settle(float* w, const double* paid, int off, int vocab, int d, int stride,
                                     int paidBase, double decay) {
  const long t = (long) blockIdx.x * blockDim.x + threadIdx.x;
  const long r = t >> 5;
  const int lane = (int) (t & 31);
  if (r >= vocab) return;
  const float factor = (float) o_ddiv(decay, paid[paidBase + r]);
  if (factor == 1.0f) return;
  const long base = off + r * (long) stride;
  for (int j = lane; j < d; j += 32) w[base + j] = o_fmul(w[base + j], factor);
}

// paid[0, n) = decay, after hf_settle.
extern "C" __global__ void hf_fill(double* paid, int n, double decay) {
  const long i = (long) blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) paid[i] = decay;
}

// The weight moving average (Trainer.updateAverage): avg += (1 - decay)·(w - avg), in float.
extern "C" __global__ void hf_ema(float* avg, const float* w, int n, float decay) {
  const long i = (long) blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  avg[i] = o_fadd(avg[i], o_fmul(1.0f - decay, o_fsub(w[i], avg[i])));
}

// flag[0] = 1 where any of x[0, n) is NaN or infinite (the caller zeroes it first).
extern "C" __global__ void hf_nonfinite(const float* x, int n, int* flag) {
  const long i = (long) blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n && !finite_f(x[i])) flag[0] = 1;
}
