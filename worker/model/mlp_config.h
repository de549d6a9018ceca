// The dense classifier / regressor of the textbook (an MLP): its shape,
// activation, loss and initialisation rule; the tensors it declares to the
// parameter servers (fc1.weight (out, in), fc1.bias, fc2.weight, ...); and
// its safetensors export. Thread-safety: value types and pure functions.
#ifndef PSERVE_WORKER_MODEL_MLP_CONFIG_H_
#define PSERVE_WORKER_MODEL_MLP_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/ops.h"
#include "proto/ps.pb.h"

namespace pserve {

// cross_entropy: softmax over K >= 2 class scores. mse: mean squared error
// on K outputs (regression, K = 1). hinge: multiclass (Weston-Watkins)
// hinge on K >= 2 class scores; for K = 2 it is the binary SVM hinge on the
// score difference.
enum class MlpLoss { kCrossEntropy, kMse, kHinge };

// Weight initialisation (biases always start at 0). normal: N(0, s^2);
// uniform: U(-s, s), s = --init_scale; zeros: all 0 (symmetric: hidden
// units stay identical); xavier: U(-b, b), b = sqrt(6 / (in + out));
// kaiming: N(0, 2 / in). Computed here, applied server-side per element.
enum class MlpInit { kNormal, kUniform, kZeros, kXavier, kKaiming };

struct MlpConfig {
  int inputs = 0;           // F, from the data file
  std::vector<int> hidden;  // hidden widths, e.g. {10, 5}
  int outputs = 0;          // K classes, or 1 for regression
  Activation activation = Activation::kRelu;
  MlpLoss loss = MlpLoss::kCrossEntropy;
  MlpInit init = MlpInit::kXavier;
  float init_scale = 0.1f;  // std (normal) or bound (uniform)
  int num_layers() const { return static_cast<int>(hidden.size()) + 1; }
  int in_width(int layer) const {
    return layer == 0 ? inputs : hidden[layer - 1];
  }
  int out_width(int layer) const {
    return layer + 1 == num_layers() ? outputs : hidden[layer];
  }
};

// Parse a flag value; INVALID_ARGUMENT naming the accepted values.
absl::StatusOr<Activation> ParseActivation(const std::string& name);
absl::StatusOr<MlpLoss> ParseMlpLoss(const std::string& name);
absl::StatusOr<MlpInit> ParseMlpInit(const std::string& name);
// "10,5" -> {10, 5}; "" -> {} (no hidden layer). Each width in [1, 65536].
absl::StatusOr<std::vector<int>> ParseHidden(const std::string& list);
const char* ActivationName(Activation a);
const char* MlpLossName(MlpLoss l);
const char* MlpInitName(MlpInit i);

// Checks widths (>= 1), init_scale (> 0 and finite for normal/uniform) and
// that the loss fits the outputs (cross_entropy and hinge need K >= 2).
// INVALID_ARGUMENT, one line.
absl::Status ValidateMlpConfig(const MlpConfig& c);

// "13->10->5->3 relu cross_entropy xavier".
std::string MlpConfigString(const MlpConfig& c);

// The parameter tensors in declaration (and flat-buffer) order:
// fc{l+1}.weight (out, in) then fc{l+1}.bias (out), each with its init rule.
std::vector<TensorSpec> MlpParameterSpecs(const MlpConfig& c);
int64_t MlpNumParameters(const MlpConfig& c);

// Input normalisation folded into an export: x_model = (x - mean) / std;
// a regression output y = y_model * target_std + target_mean.
struct MlpNormalization {
  std::vector<float> input_mean, input_std;  // (F)
  bool regression = false;
  float target_mean = 0, target_std = 1;
};

// Writes params (flat, MlpParameterSpecs order) to `path` as safetensors:
// fc1.weight (out, in), fc1.bias, ..., input_mean, input_std and, for
// regression, target_mean (1), target_std (1). INTERNAL on I/O errors.
absl::Status ExportMlp(const std::string& path, const MlpConfig& c,
                       const float* params, const MlpNormalization& norm);

}  // namespace pserve

#endif  // PSERVE_WORKER_MODEL_MLP_CONFIG_H_
