// The dense-model ops on the CPU: ReLU / sigmoid / tanh forward and
// backward, MSE and multiclass hinge losses. Shapes: see kernels/ops.h.
// Rows or ranges go to OpenMP threads; every output element is computed
// by one thread in a fixed order, so results do not depend on the count.
// Thread-safety: see cpu_kernels.h.
#include <algorithm>
#include <cmath>

#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/cpu_kernels.h"

namespace pserve {
namespace cpu {
namespace {

constexpr int64_t kMinElements = 1 << 14;
constexpr int64_t kMinRows = 256;

inline float Act(Activation act, float x) {
  switch (act) {
    case Activation::kRelu:
      return x > 0.0f ? x : 0.0f;
    case Activation::kSigmoid:
      return 1.0f / (1.0f + std::exp(-x));
    default:
      return std::tanh(x);
  }
}

// d act / dx expressed through the output y = act(x).
inline float ActGrad(Activation act, float y) {
  switch (act) {
    case Activation::kRelu:
      return y > 0.0f ? 1.0f : 0.0f;
    case Activation::kSigmoid:
      return y * (1.0f - y);
    default:
      return 1.0f - y * y;
  }
}

}  // namespace

void ActivationForward(Context& ctx, Activation act, float* out,
                       const float* inp, size_t N) {
  ParallelRange(N, ctx.threads, kMinElements, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) out[i] = Act(act, inp[i]);
  });
}

void ActivationBackward(Context& ctx, Activation act, float* dinp,
                        const float* out, const float* dout, size_t N) {
  ParallelRange(N, ctx.threads, kMinElements, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      dinp[i] += ActGrad(act, out[i]) * dout[i];
  });
}

void MseLoss(Context& ctx, float* losses, float* dpred, const float* pred,
             const float* target, int N, int K, float dloss) {
  const float grad_scale = 2.0f * dloss / static_cast<float>(K);
  ParallelRange(N, ctx.threads, kMinRows, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      float sum = 0.0f;
      for (int k = 0; k < K; ++k) {
        const float d = pred[r * K + k] - target[r * K + k];
        sum += d * d;
        if (dpred != nullptr) dpred[r * K + k] = grad_scale * d;
      }
      losses[r] = sum / static_cast<float>(K);
    }
  });
}

void HingeLoss(Context& ctx, float* losses, float* dscores, const float* scores,
               const int32_t* labels, int N, int K, float dloss) {
  ParallelRange(N, ctx.threads, kMinRows, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* s = scores + r * K;
      const int y = labels[r];
      float loss = 0.0f;
      int violations = 0;
      for (int j = 0; j < K; ++j) {
        const float margin = j == y ? 0.0f : 1.0f + s[j] - s[y];
        const bool active = margin > 0.0f;
        loss += active ? margin : 0.0f;
        violations += active;
        if (dscores != nullptr) dscores[r * K + j] = active ? dloss : 0.0f;
      }
      if (dscores != nullptr)
        dscores[r * K + y] = -dloss * static_cast<float>(violations);
      losses[r] = loss;
    }
  });
}

}  // namespace cpu
}  // namespace pserve
