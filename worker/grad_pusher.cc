// Overlapped gradient pushes. Not thread-safe (see grad_pusher.h).
#include "worker/grad_pusher.h"

#include <algorithm>
#include <utility>

namespace pserve {

GradientPusher::GradientPusher(PsClient* client, Gpt* model,
                               bool host_gradients)
    : client_(client), model_(model), host_gradients_(host_gradients) {
  if (!host_gradients_) staging_.resize(model_->num_parameters());
  BuildSchedule();
}

void GradientPusher::BuildSchedule() {
  const int L = model_->config().num_layers;
  const ModelLayout& layout = client_->layout();
  ready_at_.assign(L + 1, {});
  for (int ci = 0; ci < static_cast<int>(layout.chunks().size()); ++ci) {
    const ChunkInfo& c = layout.chunks()[ci];
    int layer;  // the callback after which this chunk is final
    if (c.tensor == kWte || c.tensor == kWpe) {
      layer = -1;
    } else if (c.tensor == kLnfw || c.tensor == kLnfb) {
      layer = L - 1;
    } else {
      const int64_t per_layer = layout.tensor_numel(c.tensor) / L;
      layer = static_cast<int>(c.offset / per_layer);  // lowest layer covered
    }
    ready_at_[layer + 1].push_back(ci);
  }
}

void GradientPusher::PushChunks(const std::vector<int>& chunks,
                                const PushTag& tag) {
  if (chunks.empty()) return;
  const float* source = model_->grads();
  if (!host_gradients_) {
    for (int ci : chunks) {
      const ChunkInfo& c = client_->layout().chunks()[ci];
      model_->backend()->CopyToHost(staging_.data() + c.flat_offset,
                                    model_->grads() + c.flat_offset, c.numel);
    }
    source = staging_.data();
  }
  pending_.push_back(client_->PushChunksAsync(source, tag, chunks));
}

Gpt::LayerCallback GradientPusher::OverlapCallback(const PushTag& tag) {
  return [this, tag](int layer) { PushChunks(ready_at_[layer + 1], tag); };
}

void GradientPusher::PushAll(const float* grads, const PushTag& tag) {
  pending_.push_back(client_->PushAsync(grads, tag));
}

absl::Status GradientPusher::Wait() {
  absl::Status first;
  for (const PsClient::Ticket& t : pending_) {
    absl::Status s = client_->Wait(t);
    if (first.ok() && !s.ok()) first = s;
  }
  pending_.clear();
  return first;
}

}  // namespace pserve
