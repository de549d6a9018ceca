// Pushes a worker's gradient to the parameter servers, either overlapped
// with the backward pass or all at once from a host buffer. Overlap works
// per chunk (common/model_layout.h): backward runs layers L-1 .. 0, and a
// chunk of a stacked (L, ...) tensor is final once the lowest layer it
// covers is done, so at layer l's callback every chunk whose lowest layer
// is l is pushed while backward goes on with layer l-1. lnfw/lnfb go at
// the first callback and wte/wpe at the last (-1), after the encoder's
// backward. Thread-safety: not thread-safe; use from the training thread.
// The pushes are PsClient tickets, finished by gRPC's callbacks.
#ifndef PSERVE_WORKER_GRAD_PUSHER_H_
#define PSERVE_WORKER_GRAD_PUSHER_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "worker/client/ps_client.h"
#include "worker/model/gpt.h"

namespace pserve {

class GradientPusher {
 public:
  // `client` (after Init) and `model` are borrowed and must outlive this.
  // With host_gradients (CPU backend) pushes read model->grads() directly;
  // otherwise each chunk is first copied to a host staging buffer.
  GradientPusher(PsClient* client, Gpt* model, bool host_gradients);

  // A callback for Gpt::Backward that pushes the chunks of tag's step as
  // they become final. Call Wait() before the model's gradients change.
  Gpt::LayerCallback OverlapCallback(const PushTag& tag);

  // Starts pushing all of `grads` (host, flat, total_params floats) with
  // `tag`. The buffer must stay valid until Wait() returns.
  void PushAll(const float* grads, const PushTag& tag);

  // Waits for every push started since the last Wait. Returns the first
  // error (the server's code and message). Blocks.
  absl::Status Wait();

  // The chunks pushed at each callback: index layer + 1 (so -1 -> 0).
  const std::vector<std::vector<int>>& schedule() const { return ready_at_; }

 private:
  void BuildSchedule();
  void PushChunks(const std::vector<int>& chunks, const PushTag& tag);

  PsClient* client_;
  Gpt* model_;
  bool host_gradients_;
  std::vector<std::vector<int>> ready_at_;  // [layer + 1] -> chunk indices
  std::vector<float> staging_;  // host copy of the gradient (non-host models)
  std::vector<PsClient::Ticket> pending_;
};

}  // namespace pserve

#endif  // PSERVE_WORKER_GRAD_PUSHER_H_
