// Caps on Pull calls in progress, so that callers that never let their
// pulls finish (e.g. min_version far in the future) cannot tie up every
// handler thread: one cap per server and one per caller (role, rank).
// Thread-safe: one mutex guards the counts; Admit never blocks on peers.
#ifndef PSERVE_SERVER_PULL_LIMITER_H_
#define PSERVE_SERVER_PULL_LIMITER_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "proto/ps.pb.h"

namespace pserve {

// Limits a server enforces on requests, from its flags.
struct ServiceLimits {
  int max_waiting_pulls = 8192;             // --max_waiting_pulls
  int max_waiting_pulls_per_caller = 1024;  // --max_waiting_pulls_per_caller
  int max_message_mb = 64;                  // --max_message_mb
};

class PullLimiter {
 public:
  explicit PullLimiter(const ServiceLimits& limits) : limits_(limits) {}

  // Holds one admitted pull; releases it when destroyed.
  class Slot {
   public:
    Slot(PullLimiter* owner, int64_t caller) : owner_(owner), key_(caller) {}
    Slot(Slot&& o) noexcept : owner_(o.owner_), key_(o.key_) {
      o.owner_ = nullptr;
    }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() {
      if (owner_ != nullptr) owner_->Release(key_);
    }

   private:
    PullLimiter* owner_;
    int64_t key_;
  };

  // Admits one more pull from `caller`, or RESOURCE_EXHAUSTED naming the
  // limit that was reached and the flag that sets it. Never blocks.
  absl::StatusOr<Slot> Admit(const Caller& caller);

  int in_progress() const;

 private:
  void Release(int64_t key);

  const ServiceLimits limits_;
  mutable absl::Mutex mu_;
  int total_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<int64_t, int> per_caller_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pserve

#endif  // PSERVE_SERVER_PULL_LIMITER_H_
