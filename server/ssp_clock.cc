// Bounded-staleness clock table. Waiters sleep on absl::Mutex conditions
// (no busy waiting) and wake when the slowest worker advances.
#include "server/ssp_clock.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace pserve {

void SspClock::Reset(int num_workers, int staleness) {
  absl::MutexLock lock(&mu_);
  clocks_.assign(num_workers, 0);
  staleness_ = staleness;
}

int64_t SspClock::MinClock() const {
  absl::MutexLock lock(&mu_);
  if (clocks_.empty()) return 0;
  return *std::min_element(clocks_.begin(), clocks_.end());
}

absl::Status SspClock::Advance(int rank, int64_t clock, absl::Time deadline,
                               const std::function<bool()>& cancelled,
                               absl::Duration* held) {
  absl::MutexLock lock(&mu_);
  if (rank < 0 || rank >= static_cast<int>(clocks_.size()))
    return absl::InvalidArgumentError("rank outside the clock table");
  clocks_[rank] = std::max(clocks_[rank], clock);
  const int64_t need = clock - staleness_;
  auto ready = [this, need]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return *std::min_element(clocks_.begin(), clocks_.end()) >= need;
  };
  const absl::Time start = absl::Now();
  while (!ready()) {
    if (cancelled && cancelled())
      return absl::CancelledError(
          "the pull was cancelled (caller gone or server shutting down)");
    if (absl::Now() >= deadline)
      return absl::DeadlineExceededError(
          absl::StrCat("worker ", rank, " at clock ", clock,
                       " waited for the slowest "
                       "worker to reach clock ",
                       need, " until its deadline"));
    const absl::Time wake =
        std::min(deadline, absl::Now() + absl::Milliseconds(100));
    mu_.AwaitWithDeadline(absl::Condition(&ready), wake);
  }
  *held = absl::Now() - start;
  return absl::OkStatus();
}

}  // namespace pserve
