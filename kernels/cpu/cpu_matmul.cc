// The linear layer out = inp @ weight^T + bias on the CPU: single-threaded
// GEMMs (cpu_gemm.h) on row-major operands, one per OpenMP thread over
// disjoint output blocks (forward: rows of out; backward: dinp and dweight
// side by side), so threads meet once per call instead of at every GEMM
// block. Shapes use the letters of kernels/ops.h.
// Thread-safety: see cpu_kernels.h; deterministic for a fixed thread count
// (outputs are split, never the summed dimension).
#include <cstring>

#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/cpu_gemm.h"
#include "kernels/cpu/cpu_kernels.h"

namespace pserve {
namespace cpu {
namespace {

// Rows per OpenMP chunk for row-wise fills.
constexpr int64_t kMinRows = 64;
// Columns per chunk for the bias gradient (a multiple of the SIMD width).
constexpr int kBiasColumnBlock = 64;

// Below this many multiply-adds a GEMM runs on one thread.
constexpr int64_t kMinParallelFlops = int64_t{1} << 21;

// out rows [begin, end) (OC each) = bias (OC), or 0 when bias is null.
void FillRows(float* out, const float* bias, int64_t begin, int64_t end,
              int OC) {
  for (int64_t n = begin; n < end; ++n) {
    float* row = out + n * OC;
    if (bias == nullptr) {
      std::memset(row, 0, sizeof(float) * OC);
    } else {
      std::memcpy(row, bias, sizeof(float) * OC);
    }
  }
}

// Threads for a GEMM of `flops` multiply-adds whose split dimension has
// `rows` rows.
int GemmThreads(const Context& ctx, int64_t flops, int64_t rows) {
  return NumChunks(rows, flops < kMinParallelFlops ? 1 : ctx.threads, kMinRows);
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
  const int chunks = GemmThreads(ctx, static_cast<int64_t>(N) * C * OC,
                                 static_cast<int64_t>(N));
  OmpThreadScope single(1);  // each chunk's GEMM stays on its own thread
  ParallelChunks(N, chunks, [&](int, int64_t begin, int64_t end) {
    FillRows(out, bias, begin, end, OC);
    if (C <= 0) return;
    const int64_t rows = end - begin;
    // (rows,OC) += (rows,C) @ weight^T (C,OC)
    Gemm(rows, OC, C, {inp + begin * C, C, 1}, {weight, 1, C}, out + begin * OC,
         OC);
  });
}

void MatmulBackward(Context& ctx, float* dinp, float* dweight, float* dbias,
                    const float* dout, const float* inp, const float* weight,
                    int N, int C, int OC) {
  if (N <= 0 || OC <= 0) return;
  if (C > 0) {
    // Work units: dinp in `parts` row blocks (if wanted), then dweight in
    // `parts` row blocks; thread k takes a contiguous run of units, merging
    // neighbours of the same product into one GEMM. With 2 threads, one
    // computes dinp and the other dweight.
    const int64_t flops = static_cast<int64_t>(N) * C * OC;
    const int parts = GemmThreads(ctx, flops, std::min(N, OC));
    const int kinds = dinp != nullptr ? 2 : 1;
    const int units = kinds * parts;
    // dinp rows [b, e) += dout rows [b, e) (.,OC) @ weight (OC,C)
    auto dinp_rows = [&](int64_t b, int64_t e) {
      Gemm(e - b, C, OC, {dout + b * OC, OC, 1}, {weight, C, 1}, dinp + b * C,
           C);
    };
    // dweight rows [b, e) += dout^T rows [b, e) (.,N) @ inp (N,C)
    auto dweight_rows = [&](int64_t b, int64_t e) {
      Gemm(e - b, C, N, {dout + b, 1, OC}, {inp, C, 1}, dweight + b * C, C);
    };
    OmpThreadScope single(1);  // each unit's GEMM stays on its own thread
    ParallelChunks(units, parts, [&](int, int64_t u0, int64_t u1) {
      for (int kind = 0; kind < kinds; ++kind) {
        const int64_t k0 = std::max<int64_t>(u0, kind * parts);
        const int64_t k1 = std::min<int64_t>(u1, (kind + 1) * parts);
        if (k0 >= k1) continue;
        const int64_t p0 = k0 - kind * parts, p1 = k1 - kind * parts;
        const bool is_dinp = dinp != nullptr && kind == 0;
        const int64_t rows = is_dinp ? N : OC;
        const int64_t b = rows * p0 / parts, e = rows * p1 / parts;
        if (is_dinp) {
          dinp_rows(b, e);
        } else {
          dweight_rows(b, e);
        }
      }
    });
  }
  if (dbias != nullptr) AddColumnSums(ctx, dbias, dout, N, OC);
}

}  // namespace cpu
}  // namespace pserve
