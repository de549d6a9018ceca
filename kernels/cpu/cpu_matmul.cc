// The linear layer out = inp @ weight^T + bias on the CPU: Eigen GEMM on
// row-major maps (threaded by Eigen's OpenMP GEMM) plus OpenMP loops for the
// bias. Shapes use the letters of kernels/ops.h.
// Thread-safety: see cpu_kernels.h; deterministic for a fixed thread count
// (Eigen's GEMM splits the output, never the summed dimension).
#include <cstring>

#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/cpu_kernels.h"

namespace pserve {
namespace cpu {
namespace {

// Rows per OpenMP chunk for row-wise fills.
constexpr int64_t kMinRows = 64;
// Columns per chunk for the bias gradient (a multiple of the SIMD width).
constexpr int kBiasColumnBlock = 64;

// out (N,OC) = bias (OC) broadcast over rows, or 0 when bias is null.
void FillRows(Context& ctx, float* out, const float* bias, int N, int OC) {
  ParallelRange(N, ctx.threads, kMinRows, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      float* row = out + n * OC;
      if (bias == nullptr) {
        std::memset(row, 0, sizeof(float) * OC);
      } else {
        std::memcpy(row, bias, sizeof(float) * OC);
      }
    }
  });
}

// dbias (OC) += column sums of dout (N,OC). Each column is summed over rows
// 0..N-1 in order by one thread, whatever the thread count.
void AddColumnSums(Context& ctx, float* dbias, const float* dout, int N,
                   int OC) {
  const int blocks = (OC + kBiasColumnBlock - 1) / kBiasColumnBlock;
  ParallelItems(blocks, ctx.threads, [&](int64_t blk) {
    const int o0 = static_cast<int>(blk) * kBiasColumnBlock;
    const int width = std::min(kBiasColumnBlock, OC - o0);
    float acc[kBiasColumnBlock] = {};
    for (int n = 0; n < N; ++n) {
      const float* row = dout + static_cast<int64_t>(n) * OC + o0;
      for (int j = 0; j < width; ++j) acc[j] += row[j];
    }
    for (int j = 0; j < width; ++j) dbias[o0 + j] += acc[j];
  });
}

}  // namespace

void MatmulForward(Context& ctx, float* out, const float* inp,
                   const float* weight, const float* bias, int N, int C,
                   int OC) {
  if (N <= 0 || OC <= 0) return;
  FillRows(ctx, out, bias, N, OC);
  if (C <= 0) return;
  OmpThreadScope scope(ctx.threads);
  // (N,OC) += (N,C) @ (C,OC)
  Mat(out, N, OC, OC).noalias() +=
      Mat(inp, N, C, C) * Mat(weight, OC, C, C).transpose();
}

void MatmulBackward(Context& ctx, float* dinp, float* dweight, float* dbias,
                    const float* dout, const float* inp, const float* weight,
                    int N, int C, int OC) {
  if (N <= 0 || OC <= 0) return;
  if (C > 0) {
    OmpThreadScope scope(ctx.threads);
    const ConstMatrixMap dout_m = Mat(dout, N, OC, OC);  // (N,OC)
    if (dinp != nullptr) {
      // (N,C) += (N,OC) @ (OC,C)
      Mat(dinp, N, C, C).noalias() += dout_m * Mat(weight, OC, C, C);
    }
    // (OC,C) += (OC,N) @ (N,C)
    Mat(dweight, OC, C, C).noalias() += dout_m.transpose() * Mat(inp, N, C, C);
  }
  if (dbias != nullptr) AddColumnSums(ctx, dbias, dout, N, OC);
}

}  // namespace cpu
}  // namespace pserve
