// The CPU backend's single-threaded float GEMM, c += a @ b over strided
// operands, with packed panels and register-blocked micro-kernels for AVX2
// (6x16) and AVX-512 (12x32), chosen at run time from what the CPU has
// (whatever -march the binary was built with), and Eigen elsewhere.
// Thread-safety: Gemm may run on many threads at once on disjoint outputs
// (packing buffers are per thread); the choice of ISA is made once.
#ifndef PSERVE_KERNELS_CPU_CPU_GEMM_H_
#define PSERVE_KERNELS_CPU_CPU_GEMM_H_

#include <cstdint>

namespace pserve {
namespace cpu {

// Element (r, c) of a matrix operand is p[r * rs + c * cs].
struct Operand {
  const float* p;
  int64_t rs, cs;
};

enum class GemmIsa { kEigen, kAvx2, kAvx512 };

// The fastest kernel this CPU runs (checked with __builtin_cpu_supports):
// AVX-512 (F, VL, DQ) if present, else AVX2 with FMA, else Eigen. The
// environment variable PSERVE_GEMM_ISA=eigen|avx2|avx512 picks another for
// benchmarks (ignored if the CPU lacks it).
GemmIsa BestGemmIsa();
// True when this CPU can run `isa`.
bool GemmIsaSupported(GemmIsa isa);
const char* GemmIsaName(GemmIsa isa);

// c (M,N; row stride ldc) += a (M,K) @ b (K,N) on the calling thread, with
// the kernel of BestGemmIsa(). Sums over k in ascending order per output
// (deterministic). M, N, K >= 0.
void Gemm(int64_t M, int64_t N, int64_t K, Operand a, Operand b, float* c,
          int64_t ldc);
// The same with a given kernel, which the CPU must support.
void GemmWith(GemmIsa isa, int64_t M, int64_t N, int64_t K, Operand a,
              Operand b, float* c, int64_t ldc);

}  // namespace cpu
}  // namespace pserve

#endif  // PSERVE_KERNELS_CPU_CPU_GEMM_H_
