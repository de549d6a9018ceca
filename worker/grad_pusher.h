// Pushes a worker's gradient to the parameter servers, either overlapped
// with the backward pass (a Gpt::LayerCallback that pushes each group of
// tensors as soon as its gradient is final) or all at once from a host
// buffer. PsClient pushes whole tensors, and per-layer tensors are stacked
// over layers, so the overlapped groups are:
//   after layer L-1's callback: lnfw, lnfb (final before the first layer's
//     backward starts);
//   after layer 0's callback:   the twelve stacked per-layer tensors;
//   after the -1 callback:      wte, wpe (the encoder backward adds to them).
// The groups' pushes run concurrently with each other and with the rest of
// backward. Thread-safety: not thread-safe; use from the training thread.
// The pushes themselves run on PsClient's threads.
#ifndef PSERVE_WORKER_GRAD_PUSHER_H_
#define PSERVE_WORKER_GRAD_PUSHER_H_

#include <cstdint>
#include <future>
#include <vector>

#include "absl/status/status.h"
#include "worker/client/ps_client.h"
#include "worker/model/gpt.h"

namespace pserve {

class GradientPusher {
 public:
  // `client` (after Init) and `model` are borrowed and must outlive this.
  // With host_gradients (CPU backend) pushes read model->grads() directly;
  // otherwise each group is first copied to a host staging buffer.
  GradientPusher(PsClient* client, Gpt* model, bool host_gradients);

  // A callback for Gpt::Backward that pushes the gradient groups of `step`
  // as they become final. Call Wait() before the model's gradients change.
  Gpt::LayerCallback OverlapCallback(int64_t step);

  // Starts pushing all of `grads` (host, flat, total_params floats) for
  // `step`. The buffer must stay valid until Wait() returns.
  void PushAll(const float* grads, int64_t step);

  // Waits for every push started since the last Wait. Returns the first
  // error (the server's code and message). Blocks.
  absl::Status Wait();

 private:
  void PushGroup(const std::vector<int>& tensors, int64_t step);

  PsClient* client_;
  Gpt* model_;
  bool host_gradients_;
  std::vector<float> staging_;  // host copy of the gradient (non-host models)
  std::vector<std::future<absl::Status>> pending_;
};

}  // namespace pserve

#endif  // PSERVE_WORKER_GRAD_PUSHER_H_
