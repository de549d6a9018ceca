// UpdatePool (see update_pool.h). Jobs wait in a queue under one mutex;
// helpers and callers take one range at a time and the caller sleeps on the
// mutex until its job's ranges are all done (no spinning between pushes).
#include "server/update_pool.h"

#include <algorithm>

namespace pserve {

UpdatePool::UpdatePool(int threads)
    : threads_(threads > 0
                   ? threads
                   : std::max(1u, std::thread::hardware_concurrency())) {
  for (int i = 1; i < threads_; ++i)
    helpers_.emplace_back([this] { HelperLoop(); });
}

UpdatePool::~UpdatePool() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  for (std::thread& t : helpers_) t.join();
}

void UpdatePool::RunRanges(Job& job) {
  while (job.next < job.ranges) {
    const int r = job.next++;
    if (job.next == job.ranges)
      queue_.erase(std::find(queue_.begin(), queue_.end(), &job));
    // Range r of `ranges`, rounded down to `align` (the last ends at n).
    const int64_t units = (job.n + job.align - 1) / job.align;
    const int64_t begin = units * r / job.ranges * job.align;
    const int64_t end =
        r + 1 == job.ranges ? job.n : units * (r + 1) / job.ranges * job.align;
    mu_.Unlock();
    (*job.fn)(begin, end);
    mu_.Lock();
    ++job.done;
  }
}

void UpdatePool::HelperLoop() {
  absl::MutexLock lock(&mu_);
  while (true) {
    mu_.Await(absl::Condition(
        +[](UpdatePool* p) ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return p->stop_ || !p->queue_.empty();
        },
        this));
    if (stop_) return;
    RunRanges(*queue_.front());
  }
}

void UpdatePool::ParallelFor(int64_t n, int64_t align, int64_t grain,
                             const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  align = std::max<int64_t>(1, align);
  const int64_t by_size = n / std::max<int64_t>(1, grain);
  const int ranges = static_cast<int>(
      std::min<int64_t>({std::max<int64_t>(threads_, by_size),
                         (n + align - 1) / align, int64_t{1} << 20}));
  if (ranges <= 1 || threads_ == 1) {
    fn(0, n);
    return;
  }
  Job job{&fn, n, align, ranges};
  absl::MutexLock lock(&mu_);
  queue_.push_back(&job);
  RunRanges(job);
  mu_.Await(absl::Condition(
      +[](Job* j) { return j->done == j->ranges; }, &job));
}

}  // namespace pserve
