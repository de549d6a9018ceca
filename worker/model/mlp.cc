// The MLP's forward and backward on a Backend; see mlp.h.
// Thread-safety: one thread of control per Mlp.
#include "worker/model/mlp.h"

#include <algorithm>
#include <cmath>

namespace pserve {

Mlp::Mlp(const MlpConfig& config, Backend* backend, int max_rows)
    : config_(config), backend_(backend), max_rows_(max_rows) {}

absl::StatusOr<std::unique_ptr<Mlp>> Mlp::Create(const MlpConfig& config,
                                                 Backend* backend,
                                                 int max_rows) {
  absl::Status s = ValidateMlpConfig(config);
  if (!s.ok()) return s;
  if (max_rows < 1) return absl::InvalidArgumentError("max_rows must be >= 1");
  std::unique_ptr<Mlp> m(new Mlp(config, backend, max_rows));
  m->Allocate();
  return m;
}

void Mlp::Allocate() {
  const size_t rows = static_cast<size_t>(max_rows_);
  int widest = 1;
  for (const TensorSpec& t : MlpParameterSpecs(config_)) {
    offsets_.push_back(num_params_);
    size_t n = 1;
    for (int64_t d : t.shape()) n *= static_cast<size_t>(d);
    num_params_ += n;
  }
  params_ = backend_->Alloc(num_params_);
  grads_ = backend_->Alloc(num_params_);
  acts_.push_back(backend_->Alloc(rows * config_.inputs));
  for (int l = 0; l < config_.num_layers(); ++l) {
    const int w = config_.out_width(l);
    widest = std::max(widest, w);
    acts_.push_back(backend_->Alloc(rows * w));
    dpre_.push_back(backend_->Alloc(rows * w));
  }
  da_ = backend_->Alloc(rows * widest);
  losses_ = backend_->Alloc(rows);
  targets_ = backend_->Alloc(rows * config_.outputs);
  labels_ = backend_->AllocInt(rows);
  host_losses_.resize(rows);
  host_labels_.resize(rows);
}

Mlp::~Mlp() {
  for (float* p : acts_) backend_->Free(p);
  for (float* p : dpre_) backend_->Free(p);
  for (void* p : {static_cast<void*>(params_), static_cast<void*>(grads_),
                  static_cast<void*>(da_), static_cast<void*>(losses_),
                  static_cast<void*>(targets_), static_cast<void*>(labels_)})
    backend_->Free(p);
}

void Mlp::SetParameters(const float* params) {
  backend_->CopyFromHost(params_, params, num_params_);
}

float Mlp::Forward(const float* x, const float* y, int N) {
  rows_ = N;
  const int L = config_.num_layers(), K = config_.outputs;
  backend_->CopyFromHost(acts_[0], x, static_cast<size_t>(N) * config_.inputs);
  for (int l = 0; l < L; ++l) {
    const int in = config_.in_width(l), out = config_.out_width(l);
    backend_->MatmulForward(acts_[l + 1], acts_[l], weight(l), bias(l), N, in,
                            out);
    if (l + 1 < L)
      backend_->ActivationForward(config_.activation, acts_[l + 1],
                                  acts_[l + 1], static_cast<size_t>(N) * out);
  }
  // The loss op also writes d(mean loss)/d(outputs) into dpre_[L-1].
  const float dloss = 1.0f / static_cast<float>(N);
  float* dout = dpre_[L - 1];
  if (config_.loss == MlpLoss::kMse) {
    backend_->CopyFromHost(targets_, y, static_cast<size_t>(N) * K);
    backend_->MseLoss(losses_, dout, acts_[L], targets_, N, K, dloss);
  } else {
    for (int i = 0; i < N; ++i)
      host_labels_[i] = static_cast<int32_t>(std::lround(y[i]));
    backend_->CopyIntFromHost(labels_, host_labels_.data(), N);
    if (config_.loss == MlpLoss::kHinge) {
      backend_->HingeLoss(losses_, dout, acts_[L], labels_, N, K, dloss);
    } else {
      backend_->SoftmaxCrossEntropy(losses_, dout, acts_[L], labels_, N, 1, K,
                                    K, dloss);
    }
  }
  backend_->CopyToHost(host_losses_.data(), losses_, N);
  double sum = 0;
  for (int i = 0; i < N; ++i) sum += host_losses_[i];
  return static_cast<float>(sum / N);
}

void Mlp::Backward(float* grads) {
  const int N = rows_, L = config_.num_layers();
  backend_->Zero(grads_, num_params_);
  for (int l = L - 1; l >= 0; --l) {
    const int in = config_.in_width(l), out = config_.out_width(l);
    const size_t n = static_cast<size_t>(N) * in;
    // da_ = d/d(layer l's input), i.e. of layer l-1's activated output.
    float* dinp = l > 0 ? da_ : nullptr;
    if (dinp != nullptr) backend_->Zero(dinp, n);
    backend_->MatmulBackward(dinp, grads_ + offsets_[2 * l],
                             grads_ + offsets_[2 * l + 1], dpre_[l], acts_[l],
                             weight(l), N, in, out);
    if (dinp == nullptr) break;
    backend_->Zero(dpre_[l - 1], n);
    backend_->ActivationBackward(config_.activation, dpre_[l - 1], acts_[l],
                                 da_, n);
  }
  backend_->CopyToHost(grads, grads_, num_params_);
}

void Mlp::Outputs(float* out) {
  backend_->CopyToHost(out, acts_.back(),
                       static_cast<size_t>(rows_) * config_.outputs);
}

}  // namespace pserve
