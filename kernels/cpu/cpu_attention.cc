// Causal multi-head self-attention on the CPU, llm.c semantics: scores
// q.k / sqrt(hs), causal softmax kept in att (zeros above the diagonal),
// out = att @ v. Work is one (batch, head) pair per OpenMP task; inside, the
// T query rows go in blocks so that GEMMs (cpu_gemm.h, single-threaded)
// skip the masked upper triangle.
// Thread-safety: see cpu_kernels.h; each task writes only its own head's
// slices, so results do not depend on scheduling.
#include <algorithm>
#include <cmath>

#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/cpu_gemm.h"
#include "kernels/cpu/cpu_kernels.h"

namespace pserve {
namespace cpu {
namespace {

// Query rows per block; a block of rows [r0, r1) only sees keys [0, r1).
constexpr int kRowBlock = 64;

// The geometry of one attention call; head pointers are for (b, h).
struct Heads {
  int T, C, hs;
  float scale;
  int64_t QkvOffset(int b, int h) const {
    return static_cast<int64_t>(b) * T * 3 * C + static_cast<int64_t>(h) * hs;
  }
  int64_t OutOffset(int b, int h) const {
    return static_cast<int64_t>(b) * T * C + static_cast<int64_t>(h) * hs;
  }
};

// row (T) holds raw scores for keys [0, t]; becomes the causal softmax of
// scale * scores, with zeros at [t + 1, T).
void CausalSoftmaxRow(float* row, int t, int T, float scale) {
  const int n = t + 1;
  for (int j = 0; j < n; ++j) row[j] *= scale;
  const float max = Max(row, n);
  ExpShifted(row, n, max);
  const float inv = 1.0f / Sum(row, n);
  for (int j = 0; j < n; ++j) row[j] *= inv;
  std::fill(row + n, row + T, 0.0f);
}

// Rows [r0, r1) x columns [0, cols) of m (row stride ld) = 0.
void ZeroBlock(float* m, int r0, int r1, int cols, int64_t ld) {
  for (int r = r0; r < r1; ++r) std::fill(m + r * ld, m + r * ld + cols, 0.0f);
}

// out (T,hs; row stride C) and att (T,T) of one head from q, k, v (T,hs;
// row stride 3C).
void HeadForward(const Heads& g, float* out, float* att, const float* q,
                 const float* k, const float* v) {
  const int T = g.T, C3 = 3 * g.C, hs = g.hs;
  for (int r0 = 0; r0 < T; r0 += kRowBlock) {
    const int r1 = std::min(T, r0 + kRowBlock), rows = r1 - r0;
    float* att_b = att + static_cast<int64_t>(r0) * T;
    float* out_b = out + static_cast<int64_t>(r0) * g.C;
    // scores (rows,r1) = q (rows,hs) @ k^T (hs,r1)
    ZeroBlock(att, r0, r1, r1, T);
    Gemm(rows, r1, hs, {q + static_cast<int64_t>(r0) * C3, C3, 1}, {k, 1, C3},
         att_b, T);
    for (int t = r0; t < r1; ++t) {
      CausalSoftmaxRow(att + static_cast<int64_t>(t) * T, t, T, g.scale);
    }
    // out (rows,hs) = att (rows,r1) @ v (r1,hs)
    ZeroBlock(out, r0, r1, hs, g.C);
    Gemm(rows, hs, r1, {att_b, T, 1}, {v, C3, 1}, out_b, g.C);
  }
}

// In place: drow (r1) holds d(att) for one query row t of a block ending at
// r1; becomes d(scores) = scale * att * (datt - <att, datt>) on [0, t] and
// zero on (t, r1).
void SoftmaxBackwardRow(float* drow, const float* arow, int t, int r1,
                        float scale) {
  const int n = t + 1;
  const float dot = Dot(arow, drow, n);
  for (int j = 0; j < n; ++j) drow[j] = scale * arow[j] * (drow[j] - dot);
  std::fill(drow + n, drow + r1, 0.0f);
}

// dq, dk, dv (T,hs; row stride 3C) += gradients of one head from dout
// (T,hs; row stride C); datt (T,T) is scratch.
void HeadBackward(const Heads& g, float* dq, float* dk, float* dv, float* datt,
                  const float* dout, const float* q, const float* k,
                  const float* v, const float* att) {
  const int T = g.T, C3 = 3 * g.C, hs = g.hs;
  for (int r0 = 0; r0 < T; r0 += kRowBlock) {
    const int r1 = std::min(T, r0 + kRowBlock), rows = r1 - r0;
    const Operand dout_b{dout + static_cast<int64_t>(r0) * g.C, g.C, 1};
    const float* att_b = att + static_cast<int64_t>(r0) * T;
    float* datt_b = datt + static_cast<int64_t>(r0) * T;
    // datt (rows,r1) = dout (rows,hs) @ v^T (hs,r1)
    ZeroBlock(datt, r0, r1, r1, T);
    Gemm(rows, r1, hs, dout_b, {v, 1, C3}, datt_b, T);
    // dv (r1,hs) += att^T (r1,rows) @ dout (rows,hs)
    Gemm(r1, hs, rows, {att_b, 1, T}, dout_b, dv, C3);
    for (int t = r0; t < r1; ++t) {
      SoftmaxBackwardRow(datt + static_cast<int64_t>(t) * T,
                         att + static_cast<int64_t>(t) * T, t, r1, g.scale);
    }
    // dq (rows,hs) += dscores (rows,r1) @ k (r1,hs)
    Gemm(rows, hs, r1, {datt_b, T, 1}, {k, C3, 1},
         dq + static_cast<int64_t>(r0) * C3, C3);
    // dk (r1,hs) += dscores^T (r1,rows) @ q (rows,hs)
    Gemm(r1, hs, rows, {datt_b, 1, T},
         {q + static_cast<int64_t>(r0) * C3, C3, 1}, dk, C3);
  }
}

}  // namespace

void AttentionForward(Context& ctx, float* out, float* att, const float* qkv,
                      int B, int T, int C, int NH) {
  if (B <= 0 || T <= 0 || NH <= 0) return;
  const Heads g{T, C, C / NH, 1.0f / std::sqrt(static_cast<float>(C / NH))};
  OmpThreadScope scope(ctx.threads);
  ParallelItems(static_cast<int64_t>(B) * NH, ctx.threads, [&](int64_t bh) {
    const int b = static_cast<int>(bh / NH), h = static_cast<int>(bh % NH);
    const float* q = qkv + g.QkvOffset(b, h);  // (T,hs), stride 3C
    HeadForward(g, out + g.OutOffset(b, h),
                att + bh * static_cast<int64_t>(T) * T, q, q + C, q + 2 * C);
  });
}

void AttentionBackward(Context& ctx, float* dqkv, float* datt,
                       const float* dout, const float* qkv, const float* att,
                       int B, int T, int C, int NH) {
  if (B <= 0 || T <= 0 || NH <= 0) return;
  const Heads g{T, C, C / NH, 1.0f / std::sqrt(static_cast<float>(C / NH))};
  OmpThreadScope scope(ctx.threads);
  ParallelItems(static_cast<int64_t>(B) * NH, ctx.threads, [&](int64_t bh) {
    const int b = static_cast<int>(bh / NH), h = static_cast<int>(bh % NH);
    const int64_t qkv_off = g.QkvOffset(b, h);
    const int64_t att_off = bh * static_cast<int64_t>(T) * T;
    float* dq = dqkv + qkv_off;
    const float* q = qkv + qkv_off;
    HeadBackward(g, dq, dq + C, dq + 2 * C, datt + att_off,
                 dout + g.OutOffset(b, h), q, q + C, q + 2 * C, att + att_off);
  });
}

}  // namespace cpu
}  // namespace pserve
