// Optimizer math shared by servers (which apply updates) and tests (which
// check them): SGD, momentum (optionally Nesterov), Adam, AdamW, with a
// constant or warmup+cosine learning-rate schedule. Pure functions over
// caller-owned arrays: thread-safe as long as callers do not share arrays.
#ifndef PSERVE_COMMON_OPTIMIZER_H_
#define PSERVE_COMMON_OPTIMIZER_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace pserve {

enum class OptimizerKind { kSgd, kMomentum, kAdam, kAdamW };
enum class LrSchedule { kConstant, kCosine };

struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::kAdamW;
  float lr = 1e-3f;
  float momentum = 0.9f;  // kMomentum only
  bool nesterov = false;  // kMomentum only
  float beta1 = 0.9f;     // kAdam, kAdamW
  float beta2 = 0.999f;   // kAdam, kAdamW
  float eps = 1e-8f;      // kAdam, kAdamW
  // kAdamW: decoupled decay p -= lr * wd * p. kSgd/kMomentum/kAdam: L2 term
  // wd * p added to the gradient (PyTorch's weight_decay semantics).
  float weight_decay = 0.0f;
  LrSchedule schedule = LrSchedule::kConstant;
  int64_t warmup_steps = 0;  // linear warmup from lr/warmup_steps to lr
  int64_t total_steps = 0;   // cosine decays to min_lr_fraction*lr here
  float min_lr_fraction = 0.0f;
};

// Parses "sgd", "momentum", "adam", "adamw". INVALID_ARGUMENT otherwise.
absl::StatusOr<OptimizerKind> ParseOptimizerKind(const std::string& name);
// Parses "constant", "cosine". INVALID_ARGUMENT otherwise.
absl::StatusOr<LrSchedule> ParseLrSchedule(const std::string& name);
std::string OptimizerKindName(OptimizerKind kind);

// Checks ranges (lr > 0, betas in [0,1), eps > 0, wd >= 0, cosine needs
// total_steps > warmup_steps). INVALID_ARGUMENT naming the field otherwise.
absl::Status ValidateOptimizerConfig(const OptimizerConfig& config);

// The learning rate for update number `step` (0-based).
float LearningRate(const OptimizerConfig& config, int64_t step);

// Number of state arrays (each n floats) the optimizer keeps: 0 for SGD,
// 1 for momentum, 2 for Adam/AdamW.
int OptimizerStateArrays(OptimizerKind kind);

// Applies update number `step` (0-based; Adam bias correction uses step+1)
// to param (n) from grad (n). m and v (n each) are the state arrays and may
// be null when OptimizerStateArrays says they are unused. Never blocks.
void ApplyUpdate(const OptimizerConfig& config, int64_t step, float* param,
                 const float* grad, float* m, float* v, size_t n);

}  // namespace pserve

#endif  // PSERVE_COMMON_OPTIMIZER_H_
