// What makes a server restart a restore: its incarnation (a random id
// drawn at every start and sent in every reply), restoring the newest valid
// checkpoint (or --restore_from) when the model is first declared,
// periodic background checkpoints, on-demand checkpoints, and rollback to
// an earlier checkpoint step (sync recovery, see Rollback in ps.proto).
// Thread-safety: all methods may be called from any gRPC handler thread;
// declaration and rollback are serialised by one mutex.
#ifndef PSERVE_SERVER_RECOVERY_H_
#define PSERVE_SERVER_RECOVERY_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/checkpoint_dir.h"
#include "server/checkpointer.h"
#include "server/shard_store.h"

namespace pserve {

class ServerRecovery {
 public:
  // `store` must outlive this object. policy.dir empty: no periodic
  // checkpoints and no restore on start; restore_from: an explicit file
  // restored instead of the directory's newest.
  ServerRecovery(ShardStore* store, const CheckpointPolicy& policy,
                 std::string restore_from);

  uint64_t incarnation() const { return incarnation_; }

  // Call after every accepted declaration; the first one restores
  // (--restore_from, else the newest valid file in the directory, else a
  // fresh start) and starts periodic checkpoints. Errors only for an
  // unusable --restore_from (NOT_FOUND, DATA_LOSS, FAILED_PRECONDITION),
  // and then the next declaration tries again. Blocks on disk I/O.
  absl::Status OnDeclared();

  // Steps of the checkpoint files in the directory, newest first, once
  // pending writes are done. Empty without a directory. Blocks on I/O.
  std::vector<int64_t> CheckpointSteps();

  // Restores the checkpoint of `step` from the directory (sync recovery).
  // FAILED_PRECONDITION before a declaration or without a directory;
  // NOT_FOUND / DATA_LOSS if that step has no valid file. Waiting pulls
  // see generation() change. Blocks on disk I/O.
  absl::Status Rollback(int64_t step, int rank);

  // Writes a checkpoint of the current state to `path` now. Returns the
  // path and bytes; INTERNAL/NOT_FOUND on I/O errors. Blocks on disk I/O.
  absl::StatusOr<std::pair<std::string, int64_t>> WriteNow(
      const std::string& path);

  // --checkpoint_dir ("" without one).
  const std::string& checkpoint_dir() const { return policy_.dir; }

  // Changes at every rollback: a pull waiting across one is aborted.
  int64_t generation() const { return generation_.load(); }
  // True once the state came from a checkpoint in this incarnation: only
  // then can a server be behind the versions workers ask for.
  bool restored() const { return restored_.load(); }
  int64_t checkpoints_written() const { return checkpointer_.written(); }

 private:
  absl::Status Apply(ServerSnapshot snapshot, const std::string& from);

  ShardStore* const store_;
  const CheckpointPolicy policy_;
  const CheckpointDir dir_;
  const std::string restore_from_;
  const uint64_t incarnation_;
  Checkpointer checkpointer_;
  absl::Mutex mu_;
  bool declared_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<int64_t> generation_{0};
  std::atomic<bool> restored_{false};
};

}  // namespace pserve

#endif  // PSERVE_SERVER_RECOVERY_H_
