// Overlapped gradient pushes. Not thread-safe (see grad_pusher.h).
#include "worker/grad_pusher.h"

#include <utility>

namespace pserve {

GradientPusher::GradientPusher(PsClient* client, Gpt* model,
                               bool host_gradients)
    : client_(client), model_(model), host_gradients_(host_gradients) {
  if (!host_gradients_) staging_.resize(model_->num_parameters());
}

void GradientPusher::PushGroup(const std::vector<int>& tensors, int64_t step) {
  const float* source = model_->grads();
  if (!host_gradients_) {
    for (int t : tensors)
      model_->backend()->CopyToHost(staging_.data() + model_->tensor_offset(t),
                                    model_->grad(t), model_->tensor_size(t));
    source = staging_.data();
  }
  pending_.push_back(client_->PushAsync(source, step, tensors));
}

Gpt::LayerCallback GradientPusher::OverlapCallback(int64_t step) {
  const int last_layer = model_->config().num_layers - 1;
  return [this, step, last_layer](int layer) {
    if (layer == last_layer) PushGroup({kLnfw, kLnfb}, step);
    if (layer == 0) {
      std::vector<int> stacked;
      for (int t = kLn1w; t <= kFcprojb; ++t) stacked.push_back(t);
      PushGroup(stacked, step);
    }
    if (layer == -1) PushGroup({kWte, kWpe}, step);
  };
}

void GradientPusher::PushAll(const float* grads, int64_t step) {
  pending_.push_back(client_->PushAsync(grads, step));
}

absl::Status GradientPusher::Wait() {
  absl::Status first;
  for (auto& f : pending_) {
    absl::Status s = f.get();
    if (first.ok() && !s.ok()) first = s;
  }
  pending_.clear();
  return first;
}

}  // namespace pserve
