// Pulls a worker's parameters per group of chunks so the forward pass can
// start before all of them have arrived: Start issues one PsClient ticket
// per group (the groups of GradientPusher's schedule), and the gate from
// ForwardGate, called by Gpt::Forward before each layer, waits only for the
// groups that layer reads. Which step may pull when is the trainer's
// decision (see docs/architecture.md, "Overlapping the pull").
// Thread-safety: not thread-safe; use from the training thread. The pulls
// are finished by gRPC's callbacks, writing disjoint chunks of the buffer.
#ifndef PSERVE_WORKER_PARAM_PULLER_H_
#define PSERVE_WORKER_PARAM_PULLER_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "worker/client/ps_client.h"
#include "worker/model/gpt.h"

namespace pserve {

class ParamPuller {
 public:
  // `client` (after Init) is borrowed and must outlive this. `groups`:
  // chunk indices per group, every chunk in exactly one (GradientPusher::
  // schedule()). `params` (total_params floats, flat) receives the pulls
  // and must outlive this.
  ParamPuller(PsClient* client, int num_layers,
              std::vector<std::vector<int>> groups, float* params);
  // Waits for pulls still in flight (their buffer must not be freed).
  ~ParamPuller();

  // Issues the pull of group g (all groups: StartAll) of `step`: version >=
  // min_version, SSP clock `step`. Never blocks. A group already pulling is
  // waited for first.
  void Start(int g, int64_t step, int64_t min_version);
  void StartAll(int64_t step, int64_t min_version);
  // True if every group has a pull of `step` issued (finished or not).
  bool Started(int64_t step) const;

  // For Gpt::Forward: before stage s (-1: encoder, l: layer l, L: final
  // norm and logits) waits for every group holding a chunk first read
  // there. Errors are kept for TakeStatus; the time waited is accumulated.
  Gpt::LayerCallback ForwardGate();
  // Waits for every group. Returns (and clears) the first error of any
  // wait since the last call, the gate's included. Blocks.
  absl::Status WaitAll();
  // Cancels the pulls in flight, waits for them and forgets them and their
  // errors: Started() is false for every step afterwards. Blocks briefly.
  void Reset();
  // Seconds spent waiting since the last call, then resets.
  double TakeWaitSeconds();

 private:
  void WaitGroup(int g);
  int FirstReadStage(const ChunkInfo& c) const;

  PsClient* client_;
  const int num_layers_;
  const std::vector<std::vector<int>> groups_;
  float* params_;
  std::vector<std::vector<int>> groups_at_stage_;  // [stage + 1] -> groups
  std::vector<PsClient::Ticket> tickets_;          // per group
  std::vector<int64_t> step_;                      // per group; -1: none
  std::vector<bool> waited_;                       // per group
  absl::Status first_error_;
  double wait_s_ = 0;
};

}  // namespace pserve

#endif  // PSERVE_WORKER_PARAM_PULLER_H_
