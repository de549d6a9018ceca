// The MLP on a compute backend: forward through dense layers and the
// activation (none after the last layer), the loss (cross-entropy, MSE or
// hinge, mean over the rows), and backward to one gradient per parameter.
// Parameters and gradients cross to the caller as host buffers in the flat
// MlpParameterSpecs order (fc1.weight, fc1.bias, fc2.weight, ...), the
// order PsClient pulls and pushes.
// Thread-safety: not thread-safe; one thread of control per Mlp (and per
// backend, which it borrows).
#ifndef PSERVE_WORKER_MODEL_MLP_H_
#define PSERVE_WORKER_MODEL_MLP_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/ops.h"
#include "worker/model/mlp_config.h"

namespace pserve {

class Mlp {
 public:
  // Allocates parameters, gradients and activations for up to max_rows
  // rows on `backend` (borrowed; must outlive the Mlp). INVALID_ARGUMENT
  // for a bad config (ValidateMlpConfig) or max_rows < 1.
  static absl::StatusOr<std::unique_ptr<Mlp>> Create(const MlpConfig& config,
                                                     Backend* backend,
                                                     int max_rows);
  ~Mlp();
  Mlp(const Mlp&) = delete;
  Mlp& operator=(const Mlp&) = delete;

  const MlpConfig& config() const { return config_; }
  size_t num_parameters() const { return num_params_; }

  // Copies params (host, num_parameters floats) to the backend.
  void SetParameters(const float* params);

  // Forward on rows x (N, F) and targets y (N) (host): class indices for
  // cross_entropy / hinge, values for mse. Returns the mean loss over the
  // N rows and keeps what Backward needs. 1 <= N <= max_rows. Blocks until
  // the backend is done.
  float Forward(const float* x, const float* y, int N);

  // The gradient of the last Forward's mean loss with respect to every
  // parameter, into grads (host, num_parameters floats). Blocks.
  void Backward(float* grads);

  // The last Forward's outputs (N, K) into out (host): class scores
  // (logits), or the regression prediction in normalised units.
  void Outputs(float* out);

 private:
  Mlp(const MlpConfig& config, Backend* backend, int max_rows);
  void Allocate();
  float* weight(int l) const { return params_ + offsets_[2 * l]; }
  float* bias(int l) const { return params_ + offsets_[2 * l + 1]; }

  const MlpConfig config_;
  Backend* const backend_;
  const int max_rows_;
  size_t num_params_ = 0;
  std::vector<size_t> offsets_;  // per tensor, into params_ / grads_
  float* params_ = nullptr;      // (num_params) on the backend
  float* grads_ = nullptr;       // (num_params)
  std::vector<float*> acts_;     // [0] input (N,F); [l+1] layer l out (N,w)
  std::vector<float*> dpre_;     // [l] d/d(layer l's pre-activation) (N,w)
  float* da_ = nullptr;          // (N, widest) d/d(a layer's input)
  float* losses_ = nullptr;      // (N)
  float* targets_ = nullptr;     // (N, K) mse targets
  int32_t* labels_ = nullptr;    // (N) class indices
  std::vector<float> host_losses_;
  std::vector<int32_t> host_labels_;
  int rows_ = 0;  // N of the last Forward
};

}  // namespace pserve

#endif  // PSERVE_WORKER_MODEL_MLP_H_
