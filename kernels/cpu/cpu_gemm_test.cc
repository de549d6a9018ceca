// The CPU GEMM against a double-precision reference, for every kernel this
// CPU runs (Eigen, AVX2, AVX-512), over edge tiles, blocks deeper than one
// cache block, transposed operands and a padded output row stride.
// Tolerance: |c - ref| <= 1e-5 * (|c0| + sum_k |a_ik b_kj|) + 1e-6.
#include "kernels/cpu/cpu_gemm.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <vector>

namespace pserve {
namespace cpu {
namespace {

struct Case {
  int M, N, K;
  bool a_transposed, b_transposed;
};

std::vector<float> Random(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = u(gen);
  return v;
}

// The number of outputs of `isa`'s product for `c` that miss the tolerance;
// also counts any write to the padding of c's rows.
int Misses(GemmIsa isa, const Case& c) {
  const int64_t ldc = c.N + 3;
  const std::vector<float> a = Random(size_t(c.M) * c.K, 1);
  const std::vector<float> b = Random(size_t(c.K) * c.N, 2);
  const std::vector<float> c0 = Random(size_t(c.M) * ldc, 3);
  const Operand A =
      c.a_transposed ? Operand{a.data(), 1, c.M} : Operand{a.data(), c.K, 1};
  const Operand B =
      c.b_transposed ? Operand{b.data(), 1, c.K} : Operand{b.data(), c.N, 1};
  std::vector<float> out = c0;
  GemmWith(isa, c.M, c.N, c.K, A, B, out.data(), ldc);
  int misses = 0;
  for (int i = 0; i < c.M; ++i) {
    for (int j = 0; j < ldc; ++j) {
      const size_t at = size_t(i) * ldc + j;
      if (j >= c.N) {
        misses += out[at] != c0[at];
        continue;
      }
      double ref = c0[at], mag = std::fabs(c0[at]);
      for (int k = 0; k < c.K; ++k) {
        const double p =
            double(A.p[i * A.rs + k * A.cs]) * double(B.p[k * B.rs + j * B.cs]);
        ref += p;
        mag += std::fabs(p);
      }
      misses += !(std::fabs(out[at] - ref) <= 1e-5 * mag + 1e-6);
    }
  }
  return misses;
}

TEST_CASE("Gemm matches a double reference on every supported kernel",
          "[gemm]") {
  const std::vector<Case> cases = {
      {1, 1, 1, false, false},     {5, 7, 3, true, false},
      {12, 32, 384, false, false}, {13, 33, 385, false, true},
      {25, 600, 300, true, true},  {100, 100, 777, false, true},
      {6, 16, 256, true, false},   {37, 530, 70, false, false},
  };
  for (GemmIsa isa : {GemmIsa::kEigen, GemmIsa::kAvx2, GemmIsa::kAvx512}) {
    if (!GemmIsaSupported(isa)) {
      WARN("skipping " << GemmIsaName(isa) << ": this CPU lacks it");
      continue;
    }
    for (const Case& c : cases) {
      INFO(GemmIsaName(isa)
           << " M=" << c.M << " N=" << c.N << " K=" << c.K
           << " aT=" << c.a_transposed << " bT=" << c.b_transposed);
      CHECK(Misses(isa, c) == 0);
    }
  }
}

TEST_CASE("Gemm with an empty dimension leaves c alone", "[gemm]") {
  std::vector<float> c = {1.0f, 2.0f};
  const float a = 3.0f;
  Gemm(1, 2, 0, {&a, 1, 1}, {&a, 1, 1}, c.data(), 2);
  CHECK(c == std::vector<float>{1.0f, 2.0f});
}

TEST_CASE("The chosen kernel is one the CPU runs", "[gemm]") {
  CHECK(GemmIsaSupported(BestGemmIsa()));
  INFO("kernel " << GemmIsaName(BestGemmIsa()));
}

}  // namespace
}  // namespace cpu
}  // namespace pserve
