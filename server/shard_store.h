// The chunks one server owns: parameters, optimizer state, and each
// chunk's consistency state, which server/consistency.h alone interprets.
// Thread-safe: each chunk has its own mutex; the chunk table is built once
// by the first Init and immutable afterwards.
#ifndef PSERVE_SERVER_SHARD_STORE_H_
#define PSERVE_SERVER_SHARD_STORE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/model_layout.h"
#include "common/optimizer.h"
#include "proto/ps.pb.h"
#include "server/consistency.h"
#include "server/update_pool.h"

namespace pserve {

class Checkpointer;

struct ServerConfig {
  int server_id = 0;
  int num_servers = 1;
  int num_workers = 1;
  ConsistencyMode mode = MODE_SYNC;
  int staleness = 0;                                  // ssp only
  absl::Duration worker_timeout = absl::Seconds(60);  // sync: see --elastic
  bool elastic = false;
  OptimizerConfig optimizer;
  // Threads that apply one chunk's update together (0: every core); the
  // result is the same bits for any count.
  int update_threads = 0;
};

// What a checkpoint holds of one chunk: a copy, consistent for the chunk.
struct ChunkSnapshot {
  uint64_t key = 0;
  int64_t version = 0;
  int64_t updates = 0;
  std::vector<float> param;  // (numel)
  std::vector<float> m;      // (numel), or empty for optimizers without it
  std::vector<float> v;      // (numel), or empty
  std::vector<int64_t> last_step;  // (num_workers) last step applied per rank
};

class ShardStore {
 public:
  explicit ShardStore(const ServerConfig& config);

  const ServerConfig& config() const { return config_; }

  // Declares the model. The first call builds the chunks this server owns;
  // the same declaration again is accepted; a different one gives
  // FAILED_PRECONDITION naming the first difference. INVALID_ARGUMENT for a
  // declaration that disagrees with this server's flags or is malformed.
  // Blocks only while the first call initialises parameters.
  absl::StatusOr<InitResponse> Init(const InitRequest& request);

  bool initialized() const {
    return initialized_.load(std::memory_order_acquire);
  }

  // Index of the local chunk holding `key`; NOT_FOUND / FAILED_PRECONDITION
  // with an actionable message. Never blocks.
  absl::StatusOr<int> LocalChunk(uint64_t key) const;
  int num_chunks() const { return static_cast<int>(chunks_.size()); }
  const ChunkInfo& chunk_info(int i) const { return chunks_[i]->info; }
  int64_t num_params() const { return num_params_; }
  const ModelLayout& layout() const { return *layout_; }

  // Checks that `rank` may push `step` to chunk i without changing state.
  // OUT_OF_RANGE for a step from the past or the future.
  absl::Status CheckPushStep(int i, int rank, int64_t step) const;

  // Hands a gradient grad (numel) to the consistency rules and runs the
  // optimizer when they say so. Returns false for a retry of a push already
  // counted. The caller has validated the gradient; CheckPushStep errors
  // are rechecked here.
  // `examples` (> 0) is how many examples grad is the mean over.
  absl::StatusOr<bool> Push(int i, int rank, int64_t step, const float* grad,
                            int64_t examples);

  // Waits until chunk i's version >= min_version (sync), the deadline, or
  // `cancelled` returning true (polled every 100 ms). DEADLINE_EXCEEDED /
  // CANCELLED.
  // `waited` receives the time spent waiting.
  absl::Status WaitVersion(int i, int64_t min_version, absl::Time deadline,
                           const std::function<bool()>& cancelled,
                           absl::Duration* waited) const;

  // Copies chunk i's parameters into out (numel floats); returns version.
  int64_t Read(int i, float* out) const;
  // Encodes chunk i's parameters as dtype into out; returns version.
  int64_t ReadEncoded(int i, DType dtype, std::string* out) const;

  // SSP pull gate for `rank` at `clock`; see Consistency::AwaitClock.
  absl::Status AwaitClock(int rank, int64_t clock, absl::Time deadline,
                          const std::function<bool()>& cancelled,
                          absl::Duration* waited) {
    return rules_.AwaitClock(rank, clock, deadline, cancelled, waited);
  }

  // The consistency rules (global loss, clocks); see consistency.h.
  Consistency& rules() { return rules_; }
  const Consistency& rules() const { return rules_; }

  // One membership check (sync): finds the slowest step and the ranks it
  // waits for, lets Consistency::Watch log or drop them, and completes the
  // steps a drop unblocked. Called about once a second by a thread the
  // server's main owns (WatchWorkers). Locks each chunk in turn.
  void CheckWorkers();
  // Takes a dropped rank back from one past the newest chunk version.
  void Rejoin(int rank) { rules_.Rejoin(rank, VersionRange().second + 1); }
  // Runs CheckWorkers every second until `stop` is notified. Blocks.
  void WatchWorkers(absl::Notification& stop);

  // Copies chunk i's state (locks that chunk only). Never blocks on peers.
  ChunkSnapshot Snapshot(int i) const;
  // Replaces every chunk's state with `chunks` (one per local chunk, in
  // order) and the SSP clocks with `clocks`, after checking all of them:
  // FAILED_PRECONDITION naming the first chunk whose key, size or rank
  // count differs; the store is unchanged on error. Pending sync sums are
  // dropped: the ranks replay the step.
  absl::Status Restore(std::vector<ChunkSnapshot> chunks,
                       const std::vector<int64_t>& clocks);
  // Every rank's SSP clock (for a checkpoint).
  std::vector<int64_t> SspClocks() const { return rules_.Clocks(); }
  // Offers each chunk to `checkpointer` whenever its version reaches a
  // multiple of its period. Set before serving; must outlive the store.
  void set_checkpointer(Checkpointer* checkpointer) {
    checkpointer_ = checkpointer;
  }
  // The accepted declaration, serialized ("" before Init).
  std::string Declaration() const;
  // Chunk i's version. Never blocks on peers.
  int64_t Version(int i) const;
  // The first step `rank` has not pushed to chunk i (Consistency::
  // ResumeStep). Never blocks on peers.
  int64_t NextStep(int i, int rank) const;

  // Smallest and largest chunk versions (0, 0 before Init).
  std::pair<int64_t, int64_t> VersionRange() const;
  int64_t updates_applied() const { return updates_applied_.load(); }
  uint64_t model_hash() const { return model_hash_; }

 private:
  struct Chunk {
    ChunkInfo info;
    mutable absl::Mutex mu;
    std::vector<float> param ABSL_GUARDED_BY(mu);  // (numel)
    std::vector<float> m ABSL_GUARDED_BY(mu);      // (numel) or empty
    std::vector<float> v ABSL_GUARDED_BY(mu);      // (numel) or empty
    int64_t updates ABSL_GUARDED_BY(mu) = 0;       // optimizer steps taken
    ChunkGate gate ABSL_GUARDED_BY(mu);
  };

  void ApplyOptimizer(Chunk& c, const float* grad)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(c.mu);
  ChunkSnapshot SnapshotLocked(const Chunk& c) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(c.mu);
  absl::Status CheckSnapshot(const std::vector<ChunkSnapshot>& chunks) const;
  absl::Status BuildChunks(const InitRequest& request);
  // RESOURCE_EXHAUSTED if this server's share cannot fit in physical memory.
  absl::Status CheckMemory(const ModelLayout& layout) const;

  const ServerConfig config_;
  mutable absl::Mutex init_mu_;
  InitRequest accepted_ ABSL_GUARDED_BY(init_mu_);
  std::atomic<bool> initialized_{false};
  // Written once under init_mu_ before initialized_ is set; read-only after.
  std::unique_ptr<ModelLayout> layout_;
  std::vector<std::unique_ptr<Chunk>> chunks_;
  absl::flat_hash_map<uint64_t, int> key_to_local_;
  int64_t num_params_ = 0;
  uint64_t model_hash_ = 0;
  std::atomic<int64_t> updates_applied_{0};
  Consistency rules_;
  mutable UpdatePool update_pool_;  // applies each chunk's optimizer step
  Checkpointer* checkpointer_ = nullptr;
};

}  // namespace pserve

#endif  // PSERVE_SERVER_SHARD_STORE_H_
