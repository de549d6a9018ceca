// Per-group parameter pulls gated layer by layer. Not thread-safe (see
// param_puller.h).
#include "worker/param_puller.h"

#include <algorithm>
#include <chrono>
#include <utility>

namespace pserve {

ParamPuller::ParamPuller(PsClient* client, int num_layers,
                         std::vector<std::vector<int>> groups, float* params)
    : client_(client),
      num_layers_(num_layers),
      groups_(std::move(groups)),
      params_(params),
      groups_at_stage_(num_layers + 2),
      tickets_(groups_.size()),
      step_(groups_.size(), -1),
      waited_(groups_.size(), true) {
  const ModelLayout& layout = client_->layout();
  for (size_t g = 0; g < groups_.size(); ++g) {
    int first = num_layers_ + 1;  // the earliest stage reading the group
    for (int ci : groups_[g])
      first = std::min(first, FirstReadStage(layout.chunks()[ci]));
    if (first <= num_layers_)
      groups_at_stage_[first + 1].push_back(static_cast<int>(g));
  }
}

ParamPuller::~ParamPuller() { Reset(); }

int ParamPuller::FirstReadStage(const ChunkInfo& c) const {
  if (c.tensor == kWte || c.tensor == kWpe) return -1;
  if (c.tensor == kLnfw || c.tensor == kLnfb) return num_layers_;
  const int64_t per_layer =
      client_->layout().tensor_numel(c.tensor) / num_layers_;
  return static_cast<int>(c.offset / per_layer);  // lowest layer covered
}

void ParamPuller::Start(int g, int64_t step, int64_t min_version) {
  WaitGroup(g);
  if (groups_[g].empty()) {
    step_[g] = step;
    return;
  }
  tickets_[g] =
      client_->PullChunksAsync(params_, min_version, step, groups_[g]);
  step_[g] = step;
  waited_[g] = false;
}

void ParamPuller::StartAll(int64_t step, int64_t min_version) {
  for (size_t g = 0; g < groups_.size(); ++g)
    Start(static_cast<int>(g), step, min_version);
}

bool ParamPuller::Started(int64_t step) const {
  return std::all_of(step_.begin(), step_.end(),
                     [step](int64_t s) { return s == step; });
}

void ParamPuller::WaitGroup(int g) {
  if (waited_[g]) return;
  const auto start = std::chrono::steady_clock::now();
  absl::Status s = client_->Wait(tickets_[g]);
  wait_s_ +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  waited_[g] = true;
  if (!s.ok() && first_error_.ok()) first_error_ = s;
}

Gpt::LayerCallback ParamPuller::ForwardGate() {
  return [this](int stage) {
    for (int g : groups_at_stage_[stage + 1]) WaitGroup(g);
  };
}

absl::Status ParamPuller::WaitAll() {
  for (size_t g = 0; g < groups_.size(); ++g) WaitGroup(static_cast<int>(g));
  absl::Status s = std::move(first_error_);
  first_error_ = absl::OkStatus();
  return s;
}

void ParamPuller::Reset() {
  for (size_t g = 0; g < groups_.size(); ++g)
    if (!waited_[g]) client_->Cancel(tickets_[g]);
  (void)WaitAll();
  std::fill(step_.begin(), step_.end(), -1);
}

double ParamPuller::TakeWaitSeconds() {
  const double s = wait_s_;
  wait_s_ = 0;
  return s;
}

}  // namespace pserve
