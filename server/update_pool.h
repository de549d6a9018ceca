// UpdatePool: the server's optimizer threads. ParallelFor splits one
// elementwise update (a chunk's AdamW, say) into contiguous ranges that the
// pool's helper threads and the calling thread run together, so one push
// uses every core the server was given.
// Thread-safety: ParallelFor may be called from any number of threads at
// once (jobs queue and share the helpers). The pool owns its helper
// threads and joins them in the destructor, which must not race a call.
#ifndef PSERVE_SERVER_UPDATE_POOL_H_
#define PSERVE_SERVER_UPDATE_POOL_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace pserve {

class UpdatePool {
 public:
  // `threads` >= 1 threads take part in each ParallelFor: threads - 1
  // helpers started here, plus the caller. 0 means every core
  // (std::thread::hardware_concurrency()).
  explicit UpdatePool(int threads);
  ~UpdatePool();
  UpdatePool(const UpdatePool&) = delete;
  UpdatePool& operator=(const UpdatePool&) = delete;

  int threads() const { return threads_; }

  // Calls fn(begin, end) over contiguous ranges that cover [0, n) exactly
  // once: about n / grain ranges (at least one per thread while n allows,
  // none shorter than `align` items but the last), on boundaries that are
  // multiples of `align` (>= 1). Threads take ranges as they come free, so a
  // thread the OS parks does not hold up the rest. Blocks until every range
  // has run; runs inline when one range suffices. fn must not throw.
  void ParallelFor(int64_t n, int64_t align, int64_t grain,
                   const std::function<void(int64_t, int64_t)>& fn);

 private:
  struct Job {
    const std::function<void(int64_t, int64_t)>* fn;
    int64_t n, align;
    int ranges;
    int next = 0;  // the next range to hand out
    int done = 0;  // ranges finished
  };

  // Runs ranges of `job` while any is left; returns with mu_ held.
  void RunRanges(Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void HelperLoop();

  const int threads_;
  absl::Mutex mu_;
  std::deque<Job*> queue_ ABSL_GUARDED_BY(mu_);  // jobs with ranges left
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> helpers_;  // started and joined by this object
};

}  // namespace pserve

#endif  // PSERVE_SERVER_UPDATE_POOL_H_
