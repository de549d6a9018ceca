// Optimizer update loops. Each is a single pass over contiguous arrays so
// the compiler vectorises it; the server's update speed is bound by memory
// bandwidth (28 bytes per parameter for Adam/AdamW).
#include "common/optimizer.h"

#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace pserve {
namespace {

void SgdUpdate(float lr, float wd, float* __restrict p,
               const float* __restrict g, size_t n) {
  for (size_t i = 0; i < n; ++i) p[i] -= lr * (g[i] + wd * p[i]);
}

void MomentumUpdate(float lr, float mu, bool nesterov, float wd,
                    float* __restrict p, const float* __restrict g,
                    float* __restrict buf, size_t n) {
  // PyTorch SGD(momentum, dampening=0): buf = mu*buf + g; step on buf, or
  // on g + mu*buf with Nesterov.
  for (size_t i = 0; i < n; ++i) {
    const float grad = g[i] + wd * p[i];
    const float b = mu * buf[i] + grad;
    buf[i] = b;
    p[i] -= lr * (nesterov ? grad + mu * b : b);
  }
}

void AdamUpdate(const OptimizerConfig& c, float lr, int64_t step,
                float* __restrict p, const float* __restrict g,
                float* __restrict m, float* __restrict v, size_t n) {
  const double t = static_cast<double>(step + 1);
  const float bc1 = static_cast<float>(1.0 - std::pow(c.beta1, t));
  const float bc2 = static_cast<float>(1.0 - std::pow(c.beta2, t));
  const float b1 = c.beta1, b2 = c.beta2, eps = c.eps;
  const bool decoupled = c.kind == OptimizerKind::kAdamW;
  const float l2 = decoupled ? 0.0f : c.weight_decay;
  const float decay = decoupled ? 1.0f - lr * c.weight_decay : 1.0f;
  const float step_size = lr / bc1;
  const float inv_sqrt_bc2 = 1.0f / std::sqrt(bc2);
  for (size_t i = 0; i < n; ++i) {
    const float grad = g[i] + l2 * p[i];
    const float mi = b1 * m[i] + (1.0f - b1) * grad;
    const float vi = b2 * v[i] + (1.0f - b2) * grad * grad;
    m[i] = mi;
    v[i] = vi;
    // PyTorch's form: p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps).
    p[i] = p[i] * decay - step_size * mi / (std::sqrt(vi) * inv_sqrt_bc2 + eps);
  }
}

}  // namespace

absl::StatusOr<OptimizerKind> ParseOptimizerKind(const std::string& name) {
  if (name == "sgd") return OptimizerKind::kSgd;
  if (name == "momentum") return OptimizerKind::kMomentum;
  if (name == "adam") return OptimizerKind::kAdam;
  if (name == "adamw") return OptimizerKind::kAdamW;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown optimizer '", name, "': use sgd, momentum, adam or adamw"));
}

absl::StatusOr<LrSchedule> ParseLrSchedule(const std::string& name) {
  if (name == "constant") return LrSchedule::kConstant;
  if (name == "cosine") return LrSchedule::kCosine;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown lr schedule '", name, "': use constant or cosine"));
}

std::string OptimizerKindName(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::kSgd:
      return "sgd";
    case OptimizerKind::kMomentum:
      return "momentum";
    case OptimizerKind::kAdam:
      return "adam";
    case OptimizerKind::kAdamW:
      return "adamw";
  }
  return "unknown";
}

absl::Status ValidateOptimizerConfig(const OptimizerConfig& c) {
  if (!(c.lr > 0)) return absl::InvalidArgumentError("--lr must be > 0");
  if (c.momentum < 0 || c.momentum >= 1)
    return absl::InvalidArgumentError("--momentum must be in [0, 1)");
  if (c.beta1 < 0 || c.beta1 >= 1)
    return absl::InvalidArgumentError("--beta1 must be in [0, 1)");
  if (c.beta2 < 0 || c.beta2 >= 1)
    return absl::InvalidArgumentError("--beta2 must be in [0, 1)");
  if (!(c.eps > 0)) return absl::InvalidArgumentError("--eps must be > 0");
  if (c.weight_decay < 0)
    return absl::InvalidArgumentError("--weight_decay must be >= 0");
  if (c.warmup_steps < 0)
    return absl::InvalidArgumentError("--warmup_steps must be >= 0");
  if (c.schedule == LrSchedule::kCosine && c.total_steps <= c.warmup_steps)
    return absl::InvalidArgumentError(
        "--lr_schedule=cosine needs --total_steps greater than "
        "--warmup_steps");
  return absl::OkStatus();
}

float LearningRate(const OptimizerConfig& c, int64_t step) {
  if (c.warmup_steps > 0 && step < c.warmup_steps) {
    return c.lr * static_cast<float>(step + 1) /
           static_cast<float>(c.warmup_steps);
  }
  if (c.schedule == LrSchedule::kConstant) return c.lr;
  const int64_t span = c.total_steps - c.warmup_steps;
  const double progress =
      std::min(1.0, static_cast<double>(step - c.warmup_steps) / span);
  const double cosine = 0.5 * (1.0 + std::cos(M_PI * progress));
  const double min_lr = c.min_lr_fraction * c.lr;
  return static_cast<float>(min_lr + (c.lr - min_lr) * cosine);
}

int OptimizerStateArrays(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::kSgd:
      return 0;
    case OptimizerKind::kMomentum:
      return 1;
    default:
      return 2;
  }
}

void ApplyUpdate(const OptimizerConfig& config, int64_t step, float* param,
                 const float* grad, float* m, float* v, size_t n) {
  const float lr = LearningRate(config, step);
  switch (config.kind) {
    case OptimizerKind::kSgd:
      SgdUpdate(lr, config.weight_decay, param, grad, n);
      return;
    case OptimizerKind::kMomentum:
      MomentumUpdate(lr, config.momentum, config.nesterov, config.weight_decay,
                     param, grad, m, n);
      return;
    case OptimizerKind::kAdam:
    case OptimizerKind::kAdamW:
      AdamUpdate(config, lr, step, param, grad, m, v, n);
      return;
  }
}

}  // namespace pserve
