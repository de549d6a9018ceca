// The CPU GEMM (cpu_gemm.h): cpu_gemm_body.inc compiled once per ISA under
// GCC target pragmas, so a binary built for x86-64-v3 still carries the
// AVX-512 kernel, and dispatched at run time by what the CPU reports.
// Thread-safety: see cpu_gemm.h; packing buffers are thread_local.
#include "kernels/cpu/cpu_gemm.h"

#include <immintrin.h>

#include <Eigen/Core>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace pserve {
namespace cpu {
namespace {

#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace avx2 {
using Vec = __m256;
constexpr int kW = 8, kMR = 6, kNV = 2, kKC = 256, kNC = 384;
inline Vec Load(const float* p) { return _mm256_loadu_ps(p); }
inline Vec Bcast(const float* p) { return _mm256_broadcast_ss(p); }
inline Vec Fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline Vec Add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
inline void Store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
inline Vec Zero() { return _mm256_setzero_ps(); }
#include "kernels/cpu/cpu_gemm_body.inc"
}  // namespace avx2
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512dq,avx2,fma")
namespace avx512 {
using Vec = __m512;
constexpr int kW = 16, kMR = 12, kNV = 2, kKC = 512, kNC = 512;
inline Vec Load(const float* p) { return _mm512_loadu_ps(p); }
inline Vec Bcast(const float* p) { return _mm512_set1_ps(*p); }
inline Vec Fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline Vec Add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
inline void Store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
inline Vec Zero() { return _mm512_setzero_ps(); }
#include "kernels/cpu/cpu_gemm_body.inc"
}  // namespace avx512
#pragma GCC pop_options

using ConstStrided = Eigen::Map<
    const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>,
    Eigen::Unaligned, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>;
using RowMap = Eigen::Map<
    Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>,
    Eigen::Unaligned, Eigen::OuterStride<>>;

void EigenGemm(int64_t M, int64_t N, int64_t K, Operand a, Operand b, float* c,
               int64_t ldc) {
  using S = Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>;
  RowMap(c, M, N, Eigen::OuterStride<>(ldc)).noalias() +=
      ConstStrided(a.p, M, K, S(a.rs, a.cs)) *
      ConstStrided(b.p, K, N, S(b.rs, b.cs));
}

// This thread's packing buffer of at least n floats.
float* Buffer(std::vector<float>& buf, int64_t n) {
  if (static_cast<int64_t>(buf.size()) < n) buf.resize(n);
  return buf.data();
}

GemmIsa DetectIsa() {
  GemmIsa best = GemmIsa::kEigen;
  if (GemmIsaSupported(GemmIsa::kAvx512)) {
    best = GemmIsa::kAvx512;
  } else if (GemmIsaSupported(GemmIsa::kAvx2)) {
    best = GemmIsa::kAvx2;
  }
  const char* env = std::getenv("PSERVE_GEMM_ISA");
  if (env == nullptr) return best;
  for (GemmIsa isa : {GemmIsa::kEigen, GemmIsa::kAvx2, GemmIsa::kAvx512}) {
    if (std::strcmp(env, GemmIsaName(isa)) == 0 && GemmIsaSupported(isa))
      return isa;
  }
  return best;
}

}  // namespace

bool GemmIsaSupported(GemmIsa isa) {
  switch (isa) {
    case GemmIsa::kAvx512:
      return __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("fma");
    case GemmIsa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    default:
      return true;
  }
}

const char* GemmIsaName(GemmIsa isa) {
  switch (isa) {
    case GemmIsa::kAvx512:
      return "avx512";
    case GemmIsa::kAvx2:
      return "avx2";
    default:
      return "eigen";
  }
}

GemmIsa BestGemmIsa() {
  static const GemmIsa isa = DetectIsa();
  return isa;
}

void Gemm(int64_t M, int64_t N, int64_t K, Operand a, Operand b, float* c,
          int64_t ldc) {
  GemmWith(BestGemmIsa(), M, N, K, a, b, c, ldc);
}

void GemmWith(GemmIsa isa, int64_t M, int64_t N, int64_t K, Operand a,
              Operand b, float* c, int64_t ldc) {
  if (M <= 0 || N <= 0 || K <= 0) return;
  thread_local std::vector<float> abuf, bbuf;
  switch (isa) {
    case GemmIsa::kAvx512:
      avx512::Run(M, N, K, a, b, c, ldc, Buffer(abuf, avx512::kBufA),
                  Buffer(bbuf, avx512::kBufB));
      return;
    case GemmIsa::kAvx2:
      avx2::Run(M, N, K, a, b, c, ldc, Buffer(abuf, avx2::kBufA),
                Buffer(bbuf, avx2::kBufB));
      return;
    default:
      EigenGemm(M, N, K, a, b, c, ldc);
  }
}

}  // namespace cpu
}  // namespace pserve
