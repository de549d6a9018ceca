// Bounded-staleness gate: a worker that is about to compute step c may read
// only when the slowest worker's clock is >= c - staleness. Thread-safe.
#ifndef PSERVE_SERVER_SSP_CLOCK_H_
#define PSERVE_SERVER_SSP_CLOCK_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace pserve {

class SspClock {
 public:
  void Reset(int num_workers, int staleness);

  // Records that `rank` is at `clock` (clocks never go back) and blocks
  // until min(clocks) >= clock - staleness, the deadline (DEADLINE_EXCEEDED)
  // or cancellation (CANCELLED, polled every 100 ms). `held` is set to the
  // time spent blocked.
  absl::Status Advance(int rank, int64_t clock, absl::Time deadline,
                       const std::function<bool()>& cancelled,
                       absl::Duration* held);

  int64_t MinClock() const;

 private:
  mutable absl::Mutex mu_;
  std::vector<int64_t> clocks_ ABSL_GUARDED_BY(mu_);
  int staleness_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace pserve

#endif  // PSERVE_SERVER_SSP_CLOCK_H_
