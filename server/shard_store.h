// The chunks one server owns, their optimizer state and versions, and the
// consistency rules (sync / async / ssp) that decide when a push is applied
// and when a pull may read. Thread-safe: each chunk has its own mutex; the
// chunk table is built once by the first Init and immutable afterwards.
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
#include "absl/time/time.h"
#include "common/model_layout.h"
#include "common/optimizer.h"
#include "proto/ps.pb.h"
#include "server/ssp_clock.h"

namespace pserve {

enum class ConsistencyMode { kSync, kAsync, kSsp };

absl::StatusOr<ConsistencyMode> ParseMode(const std::string& name);
std::string ModeName(ConsistencyMode mode);

struct ServerConfig {
  int server_id = 0;
  int num_servers = 1;
  int num_workers = 1;
  ConsistencyMode mode = ConsistencyMode::kSync;
  int staleness = 0;  // ssp only
  OptimizerConfig optimizer;
};

// One chunk's state. Exposed for the checkpoint writer.
struct Chunk {
  ChunkInfo info;
  mutable absl::Mutex mu;
  std::vector<float> param ABSL_GUARDED_BY(mu);  // (numel)
  std::vector<float> m ABSL_GUARDED_BY(mu);      // (numel) or empty
  std::vector<float> v ABSL_GUARDED_BY(mu);      // (numel) or empty
  std::vector<float> accum ABSL_GUARDED_BY(mu);  // (numel), sync only
  int64_t version ABSL_GUARDED_BY(mu) = 0;       // sync: steps applied
  int64_t updates ABSL_GUARDED_BY(mu) = 0;       // optimizer steps taken
  // Sync: which workers pushed step `version` and step `version - 1`.
  std::vector<char> arrived ABSL_GUARDED_BY(mu);
  std::vector<char> prev_arrived ABSL_GUARDED_BY(mu);
  int arrived_count ABSL_GUARDED_BY(mu) = 0;
  // Async/ssp: the last step applied from each worker (-1: none).
  std::vector<int64_t> last_step ABSL_GUARDED_BY(mu);
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
  Chunk& chunk(int i) { return *chunks_[i]; }
  int64_t num_params() const { return num_params_; }
  const ModelLayout& layout() const { return *layout_; }

  // Checks that `rank` may push `step` to chunk i without changing state.
  // OUT_OF_RANGE for a step from the past or the future.
  absl::Status CheckPushStep(int i, int rank, int64_t step) const;

  // Applies (async/ssp) or accumulates (sync) a gradient grad (numel).
  // Returns false for a retry of a push already counted. The caller has
  // validated the gradient; CheckPushStep errors are rechecked here.
  absl::StatusOr<bool> Push(int i, int rank, int64_t step, const float* grad);

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

  SspClock& ssp_clock() { return ssp_clock_; }

  // Smallest and largest chunk versions (0, 0 before Init).
  std::pair<int64_t, int64_t> VersionRange() const;
  int64_t updates_applied() const { return updates_applied_.load(); }
  uint64_t model_hash() const { return model_hash_; }

 private:
  void Accumulate(Chunk& c, int rank, const float* grad)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(c.mu);
  void ApplyOptimizer(Chunk& c, const float* grad)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(c.mu);
  absl::Status CheckStepLocked(const Chunk& c, int rank, int64_t step) const
      ABSL_SHARED_LOCKS_REQUIRED(c.mu);
  absl::Status BuildChunks(const InitRequest& request);
  // RESOURCE_EXHAUSTED if this server's share cannot fit in physical memory.
  absl::Status CheckMemory(const ModelLayout& layout) const;

  const ServerConfig config_;
  absl::Mutex init_mu_;
  InitRequest accepted_ ABSL_GUARDED_BY(init_mu_);
  std::atomic<bool> initialized_{false};
  // Written once under init_mu_ before initialized_ is set; read-only after.
  std::unique_ptr<ModelLayout> layout_;
  std::vector<std::unique_ptr<Chunk>> chunks_;
  absl::flat_hash_map<uint64_t, int> key_to_local_;
  int64_t num_params_ = 0;
  uint64_t model_hash_ = 0;
  std::atomic<int64_t> updates_applied_{0};
  SspClock ssp_clock_;
};

}  // namespace pserve

#endif  // PSERVE_SERVER_SHARD_STORE_H_
