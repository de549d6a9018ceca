// Token + position embeddings and residual adds on the CPU. The embedding
// gradient splits channels (not tokens) over OpenMP threads, so every
// gradient element is summed over (b, t) in order: deterministic for any
// thread count. Shapes use the letters of kernels/ops.h.
// Thread-safety: see cpu_kernels.h.
#include <algorithm>

#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/cpu_kernels.h"

namespace pserve {
namespace cpu {
namespace {

constexpr int64_t kMinRows = 16;
// Channels per block of the embedding gradient (a multiple of SIMD width).
constexpr int kChannelBlock = 16;
constexpr int64_t kMinElements = 1 << 15;

}  // namespace

void EncoderForward(Context& ctx, float* out, const int32_t* inp,
                    const float* wte, const float* wpe, int B, int T, int C) {
  const int64_t rows = static_cast<int64_t>(B) * T;
  ParallelRange(rows, ctx.threads, kMinRows, [&](int64_t begin, int64_t end) {
    for (int64_t bt = begin; bt < end; ++bt) {
      const float* tok = wte + static_cast<int64_t>(inp[bt]) * C;  // (C)
      const float* pos = wpe + (bt % T) * C;                       // (C)
      float* o = out + bt * C;                                     // (C)
      for (int c = 0; c < C; ++c) o[c] = tok[c] + pos[c];
    }
  });
}

void EncoderBackward(Context& ctx, float* dwte, float* dwpe, const float* dout,
                     const int32_t* inp, int B, int T, int C) {
  const int64_t rows = static_cast<int64_t>(B) * T;
  const int blocks = (C + kChannelBlock - 1) / kChannelBlock;
  ParallelRange(blocks, ctx.threads, 1, [&](int64_t begin, int64_t end) {
    const int c0 = static_cast<int>(begin) * kChannelBlock;
    const int c1 = std::min<int>(C, static_cast<int>(end) * kChannelBlock);
    for (int64_t bt = 0; bt < rows; ++bt) {
      const float* d = dout + bt * C;
      float* tok = dwte + static_cast<int64_t>(inp[bt]) * C;
      float* pos = dwpe + (bt % T) * C;
      for (int c = c0; c < c1; ++c) {
        tok[c] += d[c];
        pos[c] += d[c];
      }
    }
  });
}

void ResidualForward(Context& ctx, float* out, const float* a, const float* b,
                     size_t N) {
  ParallelRange(N, ctx.threads, kMinElements, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) out[i] = a[i] + b[i];
  });
}

void ResidualBackward(Context& ctx, float* da, float* db, const float* dout,
                      size_t N) {
  ParallelRange(N, ctx.threads, kMinElements, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      da[i] += dout[i];
      db[i] += dout[i];
    }
  });
}

}  // namespace cpu
}  // namespace pserve
