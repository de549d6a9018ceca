// LayerNorm (eps 1e-5, biased variance) and GELU (tanh form) on the CPU,
// as in llm.c's train_gpt2.c. Rows or element ranges go to OpenMP threads;
// layernorm's weight/bias gradients use one partial sum per chunk of rows,
// combined in chunk order. Shapes use the letters of kernels/ops.h.
// Thread-safety: see cpu_kernels.h; deterministic for a fixed thread count.
#include <algorithm>
#include <cmath>

#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/cpu_kernels.h"

namespace pserve {
namespace cpu {
namespace {

constexpr float kLayerNormEps = 1e-5f;
constexpr int64_t kMinRows = 16;
// Elements per GELU block: its temporaries stay in L1.
constexpr int kGeluBlock = 1024;
constexpr int64_t kMinGeluElements = 1 << 14;
constexpr float kGeluScale = 0.7978845608028654f;  // sqrt(2 / pi)
constexpr float kGeluCubic = 0.044715f;

// One row of LayerNormBackward. dweight, dbias (C) are this chunk's
// partials; norm and wdout (C) are scratch. These four never alias anything
// else, which lets the compiler vectorize without runtime alias checks.
void LayerNormBackwardRow(float* dinp, float* __restrict__ dweight,
                          float* __restrict__ dbias, float* __restrict__ norm,
                          float* __restrict__ wdout, const float* dout,
                          const float* inp, const float* weight, float mean,
                          float rstd, int C) {
  for (int c = 0; c < C; ++c) {
    norm[c] = (inp[c] - mean) * rstd;
    wdout[c] = weight[c] * dout[c];
  }
  const float dnorm_mean = Sum(wdout, C) / C;
  const float dnorm_norm_mean = Dot(wdout, norm, C) / C;
  for (int c = 0; c < C; ++c) {
    dbias[c] += dout[c];
    dweight[c] += norm[c] * dout[c];
    dinp[c] += (wdout[c] - dnorm_mean - norm[c] * dnorm_norm_mean) * rstd;
  }
}

}  // namespace

void LayerNormForward(Context& ctx, float* out, float* mean, float* rstd,
                      const float* inp, const float* weight, const float* bias,
                      int N, int C) {
  if (C <= 0) return;
  ParallelRange(N, ctx.threads, kMinRows, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      const float* x = inp + n * C;  // (C)
      float* y = out + n * C;        // (C)
      const float m = Sum(x, C) / C;
      for (int c = 0; c < C; ++c) y[c] = x[c] - m;
      const float r = 1.0f / std::sqrt(Dot(y, y, C) / C + kLayerNormEps);
      for (int c = 0; c < C; ++c) y[c] = y[c] * r * weight[c] + bias[c];
      mean[n] = m;
      rstd[n] = r;
    }
  });
}

void LayerNormBackward(Context& ctx, float* dinp, float* dweight, float* dbias,
                       const float* dout, const float* inp, const float* weight,
                       const float* mean, const float* rstd, int N, int C) {
  if (N <= 0 || C <= 0) return;
  const int chunks = NumChunks(N, ctx.threads, kMinRows);
  // Per chunk: dweight, dbias partials, then norm and w*dout rows.
  float* scratch = ctx.Scratch(static_cast<size_t>(chunks) * 4 * C);
  ParallelChunks(N, chunks, [&](int chunk, int64_t begin, int64_t end) {
    float* part = scratch + static_cast<int64_t>(chunk) * 4 * C;
    std::fill(part, part + 2 * C, 0.0f);
    for (int64_t n = begin; n < end; ++n) {
      LayerNormBackwardRow(dinp + n * C, part, part + C, part + 2 * C,
                           part + 3 * C, dout + n * C, inp + n * C, weight,
                           mean[n], rstd[n], C);
    }
  });
  for (int chunk = 0; chunk < chunks; ++chunk) {
    const float* part = scratch + static_cast<int64_t>(chunk) * 4 * C;
    for (int c = 0; c < C; ++c) {
      dweight[c] += part[c];
      dbias[c] += part[C + c];
    }
  }
}

void GeluForward(Context& ctx, float* out, const float* inp, size_t N) {
  ParallelRange(N, ctx.threads, kMinGeluElements, [&](int64_t b, int64_t e) {
    for (int64_t i0 = b; i0 < e; i0 += kGeluBlock) {
      const int n = static_cast<int>(std::min<int64_t>(kGeluBlock, e - i0));
      const float* x = inp + i0;
      float* y = out + i0;
      for (int i = 0; i < n; ++i) {
        y[i] = kGeluScale * (x[i] + kGeluCubic * x[i] * x[i] * x[i]);
      }
      TanhInPlace(y, n);
      for (int i = 0; i < n; ++i) y[i] = 0.5f * x[i] * (1.0f + y[i]);
    }
  });
}

void GeluBackward(Context& ctx, float* dinp, const float* inp,
                  const float* dout, size_t N) {
  ParallelRange(N, ctx.threads, kMinGeluElements, [&](int64_t b, int64_t e) {
    float th[kGeluBlock];
    for (int64_t i0 = b; i0 < e; i0 += kGeluBlock) {
      const int n = static_cast<int>(std::min<int64_t>(kGeluBlock, e - i0));
      const float* x = inp + i0;
      for (int i = 0; i < n; ++i) {
        th[i] = kGeluScale * (x[i] + kGeluCubic * x[i] * x[i] * x[i]);
      }
      TanhInPlace(th, n);
      for (int i = 0; i < n; ++i) {
        const float sech2 = 1.0f - th[i] * th[i];
        const float grad = 0.5f * (1.0f + th[i]) +
                           0.5f * x[i] * sech2 * kGeluScale *
                               (1.0f + 3.0f * kGeluCubic * x[i] * x[i]);
        dinp[i0 + i] += grad * dout[i0 + i];
      }
    }
  });
}

}  // namespace cpu
}  // namespace pserve
