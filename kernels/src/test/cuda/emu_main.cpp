// Runs the fused Hiformer kernel on the CPU (see emu.h) over an image written by the Java tests:
//   emu IMAGE OUT [reverse]
// IMAGE: "HFEMU1\0\0", int32 ex, w, cs, prec, blocks, batch, smemFloats, then int64-counted arrays: desc
// (int64), weights (float32), categorical ids, bag offsets, bag ids (int32), dense (float32).
// OUT receives the logits (float32, batch x tasks). "reverse" runs the threads of each cluster in
// the opposite order, so a missing barrier shows up as a different result. Exit 0 on success; 2 on
// a deadlock (threads waiting at different barriers) or an unwritten logit. x86-64 only: fibers
// switch with a few instructions of assembly (swapcontext makes a system call per switch).
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "emu.h"
#include "../../main/cuda/hiformer.cu"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define HF_ASAN 1
#endif

// Saves the callee-saved registers on the current stack, stores its pointer in *from, switches to
// the stack `to` and restores the registers saved there (System V x86-64).
extern "C" void emu_switch(void** from, void* to);
asm(R"(
.text
.globl emu_switch
.type emu_switch,@function
emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
)");

namespace emu {

struct Fiber {
  void* sp = nullptr;
  std::vector<char> stack;
  int thread = 0;
  int blockInCluster = 0;
  int blockIdx = 0;
  bool done = false;
  const Barrier* waitingOn = nullptr;  // runnable again once its generation moves past waitGeneration
  long waitGeneration = 0;
  long arrivedGeneration = 0;  // the generation of the barrier this fiber last arrived at
};

Fiber* current = nullptr;
Block* blocks = nullptr;
Barrier cluster;
int clusterThreads = 0;
static void* schedulerSp = nullptr;
#ifdef HF_ASAN
static const void* schedulerStack = nullptr;
static size_t schedulerStackSize = 0;
#endif

int thread_index() { return current->thread; }
int block_index() { return current->blockIdx; }
int block_in_cluster() { return current->blockInCluster; }

static void switch_to_scheduler() {
#ifdef HF_ASAN
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(current->done ? nullptr : &fake, schedulerStack, schedulerStackSize);
#endif
  emu_switch(&current->sp, schedulerSp);
#ifdef HF_ASAN
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
}

// The two halves of a barrier: arrive counts this fiber in and goes on; wait_arrived blocks until
// every party has arrived.
void arrive(Barrier& b, int parties) {
  current->arrivedGeneration = b.generation;
  if (++b.count == parties) {
    b.count = 0;
    ++b.generation;
  }
}

void wait_arrived(Barrier& b) {
  if (b.generation != current->arrivedGeneration) return;
  current->waitingOn = &b;
  current->waitGeneration = current->arrivedGeneration;
  switch_to_scheduler();
  current->waitingOn = nullptr;
}

void wait(Barrier& b, int parties) {
  if (++b.count == parties) {
    b.count = 0;
    ++b.generation;
    return;
  }
  current->waitingOn = &b;
  current->waitGeneration = b.generation;
  switch_to_scheduler();
  current->waitingOn = nullptr;
}

}  // namespace emu

using Kernel = void (*)(HF_ARGS);
struct Variant {
  int ex, w, cs, prec, blocks;
  Kernel fn;
};
#define HF_ENTRY(EX, W, CS, PREC, MINB) {EX, W, CS, PREC, MINB, hiformer_e##EX##_w##W##_c##CS##_p##PREC##_b##MINB},
static const Variant VARIANTS[] = {HF_KERNELS(HF_ENTRY)};

static Kernel kernel;
static const long long* gDesc;
static const float* gWts;
static const int* gCat;
static const int* gBagOff;
static const int* gBagIds;
static const float* gDense;
static float* gX;
static float* gLogits;
static int gBatch;

static void (*gBody)();

static void run_forward() { kernel(gDesc, gWts, gCat, gBagOff, gBagIds, gDense, gX, gLogits, gBatch); }

static void fiber_main() {
#ifdef HF_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &emu::schedulerStack, &emu::schedulerStackSize);
#endif
  gBody();
  emu::current->done = true;
  emu::switch_to_scheduler();  // never resumed
  abort();
}

// Runs `grid` blocks (clusters of cs), 256 fibers each, through `body`; 0, or 2 on a deadlock.
static int launch(int grid, int cs, int smemFloats, bool reverse, void (*body)()) {
  gBody = body;
  const int tiles = grid / cs;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const size_t stackBytes = 512 * 1024;
  std::vector<emu::Block> blocks((size_t) cs);
  std::vector<std::vector<float>> smem((size_t) cs);
  std::vector<emu::Fiber> fibers;
  for (int tile = 0; tile < tiles; ++tile) {
    for (int r = 0; r < cs; ++r) {
      smem[(size_t) r].assign((size_t) smemFloats, nan);
      blocks[(size_t) r] = emu::Block();
      blocks[(size_t) r].smem = smem[(size_t) r].data();
    }
    emu::blocks = blocks.data();
    emu::cluster = emu::Barrier();
    emu::clusterThreads = cs * 256;
    // stacks are allocated once a launch: zeroing 256 of them a block would cost more than the block
    if (fibers.size() != (size_t) cs * 256) fibers = std::vector<emu::Fiber>((size_t) cs * 256);
    for (int i = 0; i < cs * 256; ++i) {
      emu::Fiber& fb = fibers[(size_t) i];
      fb.thread = i % 256;
      fb.blockInCluster = i / 256;
      fb.blockIdx = tile * cs + i / 256;
      fb.done = false;
      fb.waitingOn = nullptr;
      fb.waitGeneration = 0;
      fb.arrivedGeneration = 0;
      if (fb.stack.size() != stackBytes) fb.stack.resize(stackBytes);
#ifdef HF_ASAN
      ASAN_UNPOISON_MEMORY_REGION(fb.stack.data(), stackBytes);  // a finished fiber's frames stay poisoned
#endif
      // a fresh stack that "returns" into fiber_main with the alignment of a call
      auto* top = reinterpret_cast<void**>((reinterpret_cast<uintptr_t>(fb.stack.data()) + stackBytes) & ~uintptr_t(15));
      *--top = nullptr;
      *--top = reinterpret_cast<void*>(&fiber_main);
      for (int r = 0; r < 6; ++r) *--top = nullptr;
      fb.sp = top;
    }
    int alive = cs * 256;
    while (alive > 0) {
      bool ran = false;
      for (int k = 0; k < cs * 256; ++k) {
        emu::Fiber& fb = fibers[(size_t) (reverse ? cs * 256 - 1 - k : k)];
        if (fb.done || (fb.waitingOn && fb.waitingOn->generation == fb.waitGeneration)) continue;
        ran = true;
        emu::current = &fb;
#ifdef HF_ASAN
        void* fake = nullptr;
        __sanitizer_start_switch_fiber(&fake, fb.stack.data(), stackBytes);
#endif
        emu_switch(&emu::schedulerSp, fb.sp);
#ifdef HF_ASAN
        __sanitizer_finish_switch_fiber(fake, &emu::schedulerStack, &emu::schedulerStackSize);
#endif
        if (fb.done) --alive;
      }
      if (alive > 0 && !ran) {
        fprintf(stderr, "emu: deadlock in tile %d: threads wait at different barriers\n", tile);
        return 2;
      }
    }
  }
  return 0;
}

template <typename T>
static std::vector<T> read_array(FILE* f) {
  long long n;
  if (fread(&n, 8, 1, f) != 1 || n < 0) {
    fprintf(stderr, "emu: truncated image\n");
    exit(1);
  }
  std::vector<T> v((size_t) n);
  if (n > 0 && fread(v.data(), sizeof(T), (size_t) n, f) != (size_t) n) {
    fprintf(stderr, "emu: truncated image\n");
    exit(1);
  }
  return v;
}

// Training image (KernelEmulator.train): "HFTRN1\0\0", int32 batch, lossBatch, accumulate, blocksPerSeg,
// then int64-counted arrays: desc, strides (int64: act, grad floats per example), weights, categorical,
// bag offsets, bag ids, dense, labels, mask, segments (int32), the gradient buffer's initial contents.
// OUT receives int64-counted float32 arrays: logits, loss per task, dEmb, gradients, saved activations.
static struct {
  const long long* desc;
  const float* wts;
  const int *cat, *bagOff, *bagIds, *segs;
  const float *dense, *labels, *mask;
  float *act, *grad, *logits, *dEmb, *out, *loss;
  long long strideA, strideG;
  int batch, lossBatch, accumulate, blocksPerSeg;
} gT;

static void run_train_step() {
  hf_train_step(gT.desc, gT.wts, gT.cat, gT.bagOff, gT.bagIds, gT.dense, gT.labels, gT.mask, gT.act, gT.grad,
                gT.logits, gT.dEmb, gT.strideA, gT.strideG, gT.lossBatch);
}

static void run_train_grads() {
  hf_train_grads(gT.desc, gT.segs, gT.dense, gT.act, gT.grad, gT.out, gT.loss, gT.strideA, gT.strideG, gT.batch,
                 gT.lossBatch, gT.accumulate, gT.blocksPerSeg);
}

static void write_array(FILE* o, const std::vector<float>& v) {
  long long n = (long long) v.size();
  fwrite(&n, 8, 1, o);
  fwrite(v.data(), 4, v.size(), o);
}

static int train_main(FILE* f, const char* outPath, bool reverse) {
  int head[4];
  if (fread(head, 4, 4, f) != 4) {
    fprintf(stderr, "emu: not an image\n");
    return 1;
  }
  std::vector<long long> desc = read_array<long long>(f);
  std::vector<long long> strides = read_array<long long>(f);
  std::vector<float> wts = read_array<float>(f);
  std::vector<int> cat = read_array<int>(f);
  std::vector<int> bagOff = read_array<int>(f);
  std::vector<int> bagIds = read_array<int>(f);
  std::vector<float> dense = read_array<float>(f);
  std::vector<float> labels = read_array<float>(f);
  std::vector<float> mask = read_array<float>(f);
  std::vector<int> segs = read_array<int>(f);
  std::vector<float> out = read_array<float>(f);
  fclose(f);
  const int batch = head[0];
  const int T = (int) desc[hf::D_T], nemb = (int) desc[hf::D_NEMB], d = (int) desc[hf::D_D];
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // NaN everywhere the kernels should write before they read
  std::vector<float> act((size_t) batch * strides[0], nan), grad((size_t) batch * strides[1], nan);
  std::vector<float> logits((size_t) batch * T, nan), dEmb((size_t) batch * nemb * d, nan), loss((size_t) T, nan);
  gT = {desc.data(), wts.data(), cat.data(), bagOff.data(), bagIds.data(), segs.data(), dense.data(), labels.data(),
        mask.data(), act.data(), grad.data(), logits.data(), dEmb.data(), out.data(), loss.data(), strides[0],
        strides[1], batch, head[1], head[2], head[3]};
  if (int rc = launch(batch, 1, 1, reverse, &run_train_step)) return rc;
  const int nseg = (int) segs.size() / hf::G_SEG_INTS;
  if (int rc = launch(nseg * head[3], 1, 1, reverse, &run_train_grads)) return rc;
  FILE* o = fopen(outPath, "wb");
  if (!o) {
    perror(outPath);
    return 1;
  }
  for (const auto* v : {&logits, &loss, &dEmb, &out, &act}) write_array(o, *v);
  if (fclose(o) != 0) {
    perror(outPath);
    return 1;
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: emu IMAGE OUT [reverse]\n");
    return 1;
  }
  const bool reverse = argc > 3 && std::string(argv[3]) == "reverse";
  FILE* f = fopen(argv[1], "rb");
  if (!f) {
    perror(argv[1]);
    return 1;
  }
  char magic[8];
  int head[7];
  if (fread(magic, 1, 8, f) == 8 && std::memcmp(magic, "HFTRN1\0\0", 8) == 0) return train_main(f, argv[2], reverse);
  if (std::memcmp(magic, "HFEMU1\0\0", 8) != 0 || fread(head, 4, 7, f) != 7) {
    fprintf(stderr, "emu: not an image\n");
    return 1;
  }
  const int ex = head[0], w = head[1], cs = head[2], prec = head[3], minBlocks = head[4], batch = head[5],
            smemFloats = head[6];
  std::vector<long long> desc = read_array<long long>(f);
  std::vector<float> wts = read_array<float>(f);
  std::vector<int> cat = read_array<int>(f);
  std::vector<int> bagOff = read_array<int>(f);
  std::vector<int> bagIds = read_array<int>(f);
  std::vector<float> dense = read_array<float>(f);
  fclose(f);
  kernel = nullptr;
  for (const Variant& v : VARIANTS) {
    if (v.ex == ex && v.w == w && v.cs == cs && v.prec == prec && v.blocks == minBlocks) kernel = v.fn;
  }
  if (!kernel) {
    fprintf(stderr, "emu: no kernel for ex=%d w=%d cs=%d prec=%d blocks=%d\n", ex, w, cs, prec, minBlocks);
    return 1;
  }
  const int L = (int) desc[hf::D_L];
  const int T = (int) desc[hf::D_T];
  const int tiles = (batch + ex - 1) / ex;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> x((size_t) tiles * ex * L * w, nan);  // unwritten reads poison the result
  std::vector<float> logits((size_t) batch * T, nan);
  gDesc = desc.data();
  gWts = wts.data();
  gCat = cat.data();
  gBagOff = bagOff.data();
  gBagIds = bagIds.data();
  gDense = dense.data();
  gX = x.data();
  gLogits = logits.data();
  gBatch = batch;

  if (int rc = launch(tiles * cs, cs, smemFloats, reverse, &run_forward)) return rc;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (std::isnan(logits[i])) {
      fprintf(stderr, "emu: logit %zu was not written (or is NaN)\n", i);
      return 2;
    }
  }
  FILE* o = fopen(argv[2], "wb");
  if (!o || fwrite(logits.data(), 4, logits.size(), o) != logits.size() || fclose(o) != 0) {
    perror(argv[2]);
    return 1;
  }
  return 0;
}
