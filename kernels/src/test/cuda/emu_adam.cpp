// Runs one kernel of kernels/src/main/cuda/optim.cu on the CPU, for checking the optimiser of a training
// step without a GPU (training tests: EmulatedTrainingDevice.java):
//   emu_adam IMAGE OUT [reverse]
// IMAGE: "HFOPT1\0\0", int32 name length, the name, int64 threads, int32 argument count, then per
// argument an int32 tag and its value: 0 float buffer, 1 int buffer, 2 double buffer (each int64 count,
// then the elements), 3 int32, 4 float32, 5 float64, 6 a null pointer. OUT receives every buffer
// argument in order (int64 count, elements) after the launch. Threads run one after another, in order
// or reversed: optim.cu's threads never talk to each other, so the order must not matter.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

struct Dim {
  unsigned x = 0, y = 1, z = 1;
};
static Dim threadIdx, blockIdx, blockDim, gridDim;
#define __global__
#define HF_EMULATE
#include "../../main/cuda/optim.cu"

namespace {

struct Arg {
  int tag = 0;
  std::vector<float> f;
  std::vector<int32_t> i;
  std::vector<double> d;
  int32_t i32 = 0;
  float f32 = 0;
  double f64 = 0;
};

std::vector<Arg> args;

template <typename T>
T read(std::ifstream& in) {
  T v;
  in.read(reinterpret_cast<char*>(&v), sizeof v);
  if (!in) throw std::runtime_error("image truncated");
  return v;
}

template <typename T>
void read_vec(std::ifstream& in, std::vector<T>& v) {
  int64_t n = read<int64_t>(in);
  v.resize(n);
  in.read(reinterpret_cast<char*>(v.data()), n * sizeof(T));
  if (!in) throw std::runtime_error("image truncated");
}

Arg& at(size_t k, int tag) {
  if (k >= args.size() || (args[k].tag != tag && !(args[k].tag == 6 && tag <= 2))) {
    throw std::runtime_error("argument " + std::to_string(k) + " is not of tag " + std::to_string(tag));
  }
  return args[k];
}
float* F(size_t k) { Arg& a = at(k, 0); return a.tag == 6 ? nullptr : a.f.data(); }
int32_t* I(size_t k) { Arg& a = at(k, 1); return a.tag == 6 ? nullptr : a.i.data(); }
double* D(size_t k) { Arg& a = at(k, 2); return a.tag == 6 ? nullptr : a.d.data(); }
int32_t i32(size_t k) { return at(k, 3).i32; }
float f32(size_t k) { return at(k, 4).f32; }
double f64(size_t k) { return at(k, 5).f64; }

template <typename K>
void run(int64_t threads, bool reverse, K kernel) {
  blockDim.x = 256;
  const int64_t blocks = (threads + 255) / 256;
  gridDim.x = (unsigned) blocks;
  for (int64_t s = 0; s < blocks * 256; ++s) {
    const int64_t t = reverse ? blocks * 256 - 1 - s : s;
    blockIdx.x = (unsigned) (t / 256);
    threadIdx.x = (unsigned) (t % 256);
    kernel();
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: emu_adam IMAGE OUT [reverse]\n");
    return 2;
  }
  try {
    std::ifstream in(argv[1], std::ios::binary);
    char magic[8];
    in.read(magic, 8);
    if (!in || std::memcmp(magic, "HFOPT1\0\0", 8) != 0) throw std::runtime_error("not an HFOPT1 image");
    std::string name(read<int32_t>(in), '\0');
    in.read(name.data(), name.size());
    const int64_t threads = read<int64_t>(in);
    const int32_t count = read<int32_t>(in);
    args.resize(count);
    for (Arg& a : args) {
      a.tag = read<int32_t>(in);
      switch (a.tag) {
        case 0: read_vec(in, a.f); break;
        case 1: read_vec(in, a.i); break;
        case 2: read_vec(in, a.d); break;
        case 3: a.i32 = read<int32_t>(in); break;
        case 4: a.f32 = read<float>(in); break;
        case 5: a.f64 = read<double>(in); break;
        case 6: break;
        default: throw std::runtime_error("bad argument tag " + std::to_string(a.tag));
      }
    }
    const bool reverse = argc > 3 && std::string(argv[3]) == "reverse";
    if (name == "hf_adam_dense") {
      run(threads, reverse, [] {
        hf_adam_dense(F(0), F(1), F(2), F(3), i32(4), f32(5), f64(6), f64(7), f64(8), f64(9), f64(10), f64(11));
      });
    } else if (name == "hf_adam_rows") {
      run(threads, reverse, [] {
        hf_adam_rows(F(0), F(1), F(2), F(3), I(4), I(5), I(6), I(7), F(8), i32(9), i32(10), D(11), f64(12),
                     f64(13), f64(14), f64(15), f64(16), f64(17), f64(18), f64(19));
      });
    } else if (name == "hf_paid_rows") {
      run(threads, reverse, [] { hf_paid_rows(D(0), I(1), i32(2), f64(3)); });
    } else if (name == "hf_settle") {
      run(threads, reverse, [] { hf_settle(F(0), D(1), i32(2), i32(3), i32(4), i32(5), i32(6), f64(7)); });
    } else if (name == "hf_fill") {
      run(threads, reverse, [] { hf_fill(D(0), i32(1), f64(2)); });
    } else if (name == "hf_ema") {
      run(threads, reverse, [] { hf_ema(F(0), F(1), i32(2), f32(3)); });
    } else if (name == "hf_nonfinite") {
      run(threads, reverse, [] { hf_nonfinite(F(0), i32(1), I(2)); });
    } else {
      throw std::runtime_error("no kernel " + name);
    }
    std::ofstream out(argv[2], std::ios::binary);
    for (const Arg& a : args) {
      int64_t n = a.tag == 0 ? a.f.size() : a.tag == 1 ? a.i.size() : a.tag == 2 ? a.d.size() : -1;
      if (n < 0) continue;
      out.write(reinterpret_cast<const char*>(&n), 8);
      const char* p = a.tag == 0 ? (const char*) a.f.data() : a.tag == 1 ? (const char*) a.i.data()
                                                                          : (const char*) a.d.data();
      out.write(p, n * (a.tag == 2 ? 8 : 4));
    }
    if (!out) throw std::runtime_error("cannot write the output");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "emu_adam: %s\n", e.what());
    return 2;
  }
  return 0;
}
