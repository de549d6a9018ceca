// How a worker survives a server restart (the protocol is documented at
// RollbackRequest in proto/ps.proto). Sync: re-declare to every server,
// read their chunk versions; if they are not within one step of each other,
// rank 0 rolls the servers back to the newest checkpoint step they all hold
// and the other ranks wait for that; every rank then replays from the
// common step, so the run ends exactly as one that never failed.
// Async/ssp: re-declare and carry on, logging how many of this rank's steps
// the restarted server lost.
// Thread-safety: used from the training thread only, while no pull or push
// of this worker is in flight.
#ifndef PSERVE_WORKER_RECOVERY_H_
#define PSERVE_WORKER_RECOVERY_H_

#include <cstdint>
#include <set>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/ps.pb.h"
#include "worker/client/ps_client.h"

namespace pserve {

// What sync recovery does, decided from every server's Init reply to this
// rank: a rank that some server dropped (caller_dropped) rejoins at once
// (see SyncPlan::rejoin); otherwise resume at the first step this rank has not
// pushed everywhere if no chunk is past it (the chunks still hold that step's
// parameters); otherwise roll every server back to the newest checkpoint step
// that all of them hold at or below the smallest chunk version.
struct SyncPlan {
  int64_t resume_step = 0;     // where this rank continues
  int64_t rollback_step = -1;  // -1: no rollback needed
  // False when a rollback was needed but no server holds a checkpoint and
  // every chunk is within one step: resume at the slowest chunk, inexactly.
  bool exact = true;
  // True when some server had dropped this rank (--elastic): it rejoins at
  // resume_step while the other ranks train on, and no rollback is needed.
  bool rejoin = false;
};

// FAILED_PRECONDITION naming the servers' versions and checkpoint steps
// when a rollback is needed, they share no checkpoint step for it, and the
// chunks are more than one step apart.
// `unusable`: checkpoint steps a server failed to restore (left out).
absl::StatusOr<SyncPlan> PlanSyncRecovery(
    const std::vector<InitResponse>& replies,
    const std::set<int64_t>& unusable = {});

class WorkerRecovery {
 public:
  // `client` must outlive this object; `declaration` is what Init sends.
  WorkerRecovery(PsClient* client, InitRequest declaration, int rank,
                 absl::Duration timeout);

  // Declares the model and returns the step to start at; in sync mode
  // first brings the servers to a common step as Recover does. Errors: the
  // servers' (see PsClient::Init), DEADLINE_EXCEEDED after `timeout`
  // without a consistent state. Blocks.
  absl::StatusOr<int64_t> Declare();

  // After step `step` failed with `cause`: the step to continue at if a
  // server restarted or rolled back, otherwise `cause` itself. Blocks.
  absl::StatusOr<int64_t> Recover(int64_t step, const absl::Status& cause);

  // Whether `s` may come from a server restart or rollback.
  static bool MayBeRestart(const absl::Status& s);

 private:
  absl::StatusOr<int64_t> BringToCommonStep();
  void LogLostSteps(int64_t step, const std::vector<InitResponse>& before);

  PsClient* const client_;
  const InitRequest declaration_;
  const bool sync_;
  const int rank_;
  const absl::Duration timeout_;
};

}  // namespace pserve

#endif  // PSERVE_WORKER_RECOVERY_H_
