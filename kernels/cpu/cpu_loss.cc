// Fused softmax + cross-entropy over padded logits, and the gradient-norm
// helpers (sum of squares, scale) on the CPU. Rows or ranges go to OpenMP
// threads; SumSquares adds fixed 4096-element blocks in block order, so its
// result is identical for every thread count. Shapes: see kernels/ops.h.
// Thread-safety: see cpu_kernels.h.
#include <algorithm>
#include <cmath>

#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/cpu_kernels.h"

namespace pserve {
namespace cpu {
namespace {

constexpr int64_t kMinRows = 4;
constexpr int64_t kSquaresBlock = 4096;
constexpr int64_t kMinElements = 1 << 15;

// Sum of x[i]^2 over n elements, in double, in a fixed lane order.
double BlockSumSquares(const float* x, int64_t n) {
  constexpr int kDoubleLanes = 8;
  double acc[kDoubleLanes] = {};
  int64_t i = 0;
  for (; i + kDoubleLanes <= n; i += kDoubleLanes) {
    for (int j = 0; j < kDoubleLanes; ++j) {
      const double v = x[i + j];
      acc[j] += v * v;
    }
  }
  for (int j = 0; i + j < n; ++j) {
    const double v = x[i + j];
    acc[j] += v * v;
  }
  return ((acc[0] + acc[4]) + (acc[2] + acc[6])) +
         ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

// One row: loss = -log softmax(logits[:V])[target]; if probs is
// dlogits' row (Vp), it becomes (softmax - onehot) * dloss with zeros in
// [V, Vp). probs may also be a scratch row of V floats (no gradient).
float CrossEntropyRow(float* probs, bool write_grad, const float* logits,
                      int target, int V, int Vp, float dloss) {
  const float max = Max(logits, V);
  std::copy(logits, logits + V, probs);
  ExpShifted(probs, V, max);
  const float sum = Sum(probs, V);
  const float loss = std::log(sum) - (logits[target] - max);
  if (write_grad) {
    const float scale = dloss / sum;
    for (int j = 0; j < V; ++j) probs[j] *= scale;
    probs[target] -= dloss;
    std::fill(probs + V, probs + Vp, 0.0f);
  }
  return loss;
}

}  // namespace

void SoftmaxCrossEntropy(Context& ctx, float* losses, float* dlogits,
                         const float* logits, const int32_t* targets, int B,
                         int T, int V, int Vp, float dloss) {
  const int64_t rows = static_cast<int64_t>(B) * T;
  if (rows <= 0 || V <= 0) return;
  const int chunks = NumChunks(rows, ctx.threads, kMinRows);
  float* scratch = dlogits == nullptr
                       ? ctx.Scratch(static_cast<size_t>(chunks) * V)
                       : nullptr;
  ParallelChunks(rows, chunks, [&](int chunk, int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      float* probs = dlogits != nullptr
                         ? dlogits + r * Vp                            // (Vp)
                         : scratch + static_cast<int64_t>(chunk) * V;  // (V)
      losses[r] = CrossEntropyRow(probs, dlogits != nullptr, logits + r * Vp,
                                  targets[r], V, Vp, dloss);
    }
  });
}

double SumSquares(Context& ctx, const float* x, size_t n) {
  const int64_t blocks =
      (static_cast<int64_t>(n) + kSquaresBlock - 1) / kSquaresBlock;
  if (blocks == 0) return 0.0;
  double* partial = ctx.Partials(blocks);  // (blocks)
  ParallelRange(blocks, ctx.threads, 4, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      const int64_t i0 = k * kSquaresBlock;
      partial[k] = BlockSumSquares(
          x + i0,
          std::min<int64_t>(kSquaresBlock, static_cast<int64_t>(n) - i0));
    }
  });
  double total = 0.0;
  for (int64_t k = 0; k < blocks; ++k) total += partial[k];
  return total;
}

void Scale(Context& ctx, float* x, float s, size_t n) {
  ParallelRange(n, ctx.threads, kMinElements, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) x[i] *= s;
  });
}

}  // namespace cpu
}  // namespace pserve
