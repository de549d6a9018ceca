// Helpers for the CPU backend's tests: backend-owned buffers (host memory,
// readable directly), seeded random fills and a central-difference gradient
// checker. Shapes follow kernels/ops.h.
// Thread-safety: none; tests use one thread of control.
#ifndef PSERVE_KERNELS_CPU_CPU_TEST_UTIL_H_
#define PSERVE_KERNELS_CPU_CPU_TEST_UTIL_H_

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "kernels/ops.h"

namespace pserve {
namespace testing {

// n floats from backend->Alloc, freed on destruction. CPU memory is host
// memory, so tests read and write it through data().
class Buf {
 public:
  Buf(Backend* backend, size_t n) : backend_(backend), n_(n) {
    p_ = backend->Alloc(n);
  }
  ~Buf() { backend_->Free(p_); }
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;

  float* data() const { return p_; }
  size_t size() const { return n_; }
  float& operator[](size_t i) const { return p_[i]; }
  void Set(const std::vector<float>& v) const {
    std::copy(v.begin(), v.end(), p_);
  }
  std::vector<float> Get() const { return std::vector<float>(p_, p_ + n_); }

 private:
  Backend* backend_;
  size_t n_;
  float* p_;
};

// n int32s from backend->AllocInt, freed on destruction.
class IntBuf {
 public:
  IntBuf(Backend* backend, size_t n) : backend_(backend), n_(n) {
    p_ = backend->AllocInt(n);
  }
  ~IntBuf() { backend_->Free(p_); }
  IntBuf(const IntBuf&) = delete;
  IntBuf& operator=(const IntBuf&) = delete;

  int32_t* data() const { return p_; }
  int32_t& operator[](size_t i) const { return p_[i]; }

 private:
  Backend* backend_;
  size_t n_;
  int32_t* p_;
};

inline std::vector<float> RandomVector(size_t n, uint32_t seed,
                                       float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

inline void FillRandom(const Buf& buf, uint32_t seed, float lo = -1.0f,
                       float hi = 1.0f) {
  buf.Set(RandomVector(buf.size(), seed, lo, hi));
}

inline void FillTokens(const IntBuf& buf, size_t n, int vocab, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> dist(0, vocab - 1);
  for (size_t i = 0; i < n; ++i) buf[i] = dist(gen);
}

// sum_i out[i] * weight[i], in double: the scalar "loss" whose gradient
// with respect to out is `weight`.
inline double WeightedSum(const float* out, const float* weight, size_t n) {
  double s = 0.0;
  for (size_t i = 0; i < n; ++i) s += static_cast<double>(out[i]) * weight[i];
  return s;
}

// Compares analytic[i] with the central difference
// (loss(param[i] + eps) - loss(param[i] - eps)) / (2 eps) for every i,
// where loss() reruns the forward pass in float. Passes when every
// |numeric - analytic| <= atol + rtol * |analytic|.
inline void CheckGradient(const std::string& name, float* param, size_t n,
                          const float* analytic,
                          const std::function<double()>& loss, float eps,
                          double atol, double rtol) {
  double worst = 0.0;
  size_t worst_i = 0;
  double worst_num = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const float saved = param[i];
    param[i] = saved + eps;
    const double plus = loss();
    param[i] = saved - eps;
    const double minus = loss();
    param[i] = saved;
    const double numeric = (plus - minus) / (2.0 * eps);
    const double excess = std::fabs(numeric - analytic[i]) -
                          (atol + rtol * std::fabs(analytic[i]));
    if (i == 0 || excess > worst) {
      worst = excess;
      worst_i = i;
      worst_num = numeric;
    }
  }
  INFO(name << ": worst element " << worst_i << " numeric " << worst_num
            << " analytic " << analytic[worst_i]);
  CHECK(worst <= 0.0);
}

}  // namespace testing
}  // namespace pserve

#endif  // PSERVE_KERNELS_CPU_CPU_TEST_UTIL_H_
