// Helpers for the CUDA backend's tests: the CPU and GPU backends under test,
// buffers mirrored on both, seeded random fills and tolerance checks (see
// cuda_backend_test.cc for the tolerances and why).
// Thread-safety: none; tests use one thread of control.
#ifndef PSERVE_KERNELS_CUDA_CUDA_TEST_UTIL_H_
#define PSERVE_KERNELS_CUDA_CUDA_TEST_UTIL_H_

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/ops.h"

namespace pserve {
namespace testing {

struct Env {
  std::unique_ptr<Backend> cpu, gpu, tf32;
  std::string reason;
};

inline Env& GetEnv() {
  static Env* env = [] {
    auto* e = new Env;
    auto gpu = MakeCudaBackend(0, /*tf32=*/false);
    if (!gpu.ok()) {
      e->reason = std::string(gpu.status().message());
      return e;
    }
    e->gpu = std::move(*gpu);
    auto tf32 = MakeCudaBackend(0, /*tf32=*/true);
    REQUIRE(tf32.ok());
    e->tf32 = std::move(*tf32);
    e->cpu = MakeCpuBackend(2);
    return e;
  }();
  return *env;
}

// True if a GPU is usable; otherwise prints the SKIPPED line (once).
inline bool HaveGpu() {
  Env& env = GetEnv();
  if (env.gpu) return true;
  static bool printed = false;
  if (!printed) {
    std::printf("SKIPPED: no CUDA GPU present (%s)\n", env.reason.c_str());
    printed = true;
  }
  return false;
}

inline std::vector<float> Randn(size_t n, uint32_t seed, float stddev = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, stddev);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

inline std::vector<int32_t> RandInts(size_t n, int hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> dist(0, hi - 1);
  std::vector<int32_t> v(n);
  for (int32_t& x : v) x = dist(rng);
  return v;
}

inline std::vector<float> Nans(size_t n) {
  return std::vector<float>(n, std::numeric_limits<float>::quiet_NaN());
}

// The same buffer on the CPU backend (c) and on a GPU backend (g).
class Pair {
 public:
  Pair(Backend* gpu, const std::vector<float>& init)
      : cpu_(GetEnv().cpu.get()), gpu_(gpu), n_(init.size()) {
    c = cpu_->Alloc(n_);
    g = gpu_->Alloc(n_);
    Set(init);
  }
  ~Pair() {
    cpu_->Free(c);
    gpu_->Free(g);
  }
  Pair(const Pair&) = delete;
  Pair& operator=(const Pair&) = delete;

  void Set(const std::vector<float>& v) {
    cpu_->CopyFromHost(c, v.data(), n_);
    gpu_->CopyFromHost(g, v.data(), n_);
  }
  std::vector<float> Cpu() const { return Get(cpu_, c); }
  std::vector<float> Gpu() const { return Get(gpu_, g); }

  float* c;
  float* g;

 private:
  std::vector<float> Get(Backend* b, const float* p) const {
    std::vector<float> v(n_);
    b->CopyToHost(v.data(), p, n_);
    return v;
  }
  Backend* cpu_;
  Backend* gpu_;
  size_t n_;
};

class IntPair {
 public:
  IntPair(Backend* gpu, const std::vector<int32_t>& v)
      : cpu_(GetEnv().cpu.get()), gpu_(gpu) {
    c = cpu_->AllocInt(v.size());
    g = gpu_->AllocInt(v.size());
    cpu_->CopyIntFromHost(c, v.data(), v.size());
    gpu_->CopyIntFromHost(g, v.data(), v.size());
  }
  ~IntPair() {
    cpu_->Free(c);
    gpu_->Free(g);
  }
  IntPair(const IntPair&) = delete;
  IntPair& operator=(const IntPair&) = delete;
  int32_t* c;
  int32_t* g;

 private:
  Backend* cpu_;
  Backend* gpu_;
};

// Pointwise: |g - c| <= tol * max(|c|, rms(c)); NaN anywhere fails.
inline void ExpectClose(const std::string& what, const Pair& p, double tol) {
  const std::vector<float> c = p.Cpu(), g = p.Gpu();
  double sq = 0.0;
  for (float x : c) sq += double{x} * x;
  const double rms = c.empty() ? 0.0 : std::sqrt(sq / c.size());
  size_t bad = 0, worst = 0;
  double worst_ratio = 0.0;
  for (size_t i = 0; i < c.size(); ++i) {
    const double err = std::fabs(double{g[i]} - c[i]);
    const double scale = std::max({std::fabs(double{c[i]}), rms, 1e-30});
    const double ratio = std::isnan(g[i]) || std::isnan(c[i])
                             ? std::numeric_limits<double>::infinity()
                             : err / scale;
    if (ratio > tol) ++bad;
    if (ratio > worst_ratio || std::isinf(ratio)) {
      worst_ratio = ratio;
      worst = i;
    }
  }
  INFO(what << ": " << bad << " of " << c.size() << " beyond " << tol
            << "; worst relative error " << worst_ratio << " at " << worst
            << " (gpu " << (g.empty() ? 0 : g[worst]) << ", cpu "
            << (c.empty() ? 0 : c[worst]) << ")");
  CHECK(bad == 0);
}

// Relative Frobenius error ||g - c|| / ||c|| <= tol (TF32 checks).
inline void ExpectNormClose(const std::string& what, const Pair& p,
                            double tol) {
  const std::vector<float> c = p.Cpu(), g = p.Gpu();
  double num = 0.0, den = 0.0;
  bool nan = false;
  for (size_t i = 0; i < c.size(); ++i) {
    nan = nan || std::isnan(g[i]);
    num += (double{g[i]} - c[i]) * (double{g[i]} - c[i]);
    den += double{c[i]} * c[i];
  }
  const double rel = std::sqrt(num / std::max(den, 1e-30));
  INFO(what << ": relative Frobenius error " << rel << " (limit " << tol
            << ")");
  CHECK(!nan);
  CHECK(rel <= tol);
}

#define SKIP_WITHOUT_GPU() \
  if (!::pserve::testing::HaveGpu()) return

}  // namespace testing
}  // namespace pserve

#endif  // PSERVE_KERNELS_CUDA_CUDA_TEST_UTIL_H_
