// Pull admission counts.
#include "server/pull_limiter.h"

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace pserve {
namespace {

int64_t CallerKey(const Caller& c) {
  return (static_cast<int64_t>(c.role()) << 32) |
         static_cast<uint32_t>(c.role() == Caller::WORKER ? c.rank() : 0);
}

std::string CallerName(const Caller& c) {
  return c.role() == Caller::WORKER ? absl::StrCat("worker ", c.rank())
                                    : std::string("admin callers");
}

}  // namespace

absl::StatusOr<PullLimiter::Slot> PullLimiter::Admit(const Caller& caller) {
  const int64_t key = CallerKey(caller);
  absl::MutexLock lock(&mu_);
  if (total_ >= limits_.max_waiting_pulls)
    return absl::ResourceExhaustedError(absl::StrCat(
        "this server already has ", total_,
        " pulls in progress, its limit (--max_waiting_pulls=",
        limits_.max_waiting_pulls, "); retry later or raise the flag"));
  int& mine = per_caller_[key];
  if (mine >= limits_.max_waiting_pulls_per_caller)
    return absl::ResourceExhaustedError(
        absl::StrCat(CallerName(caller), " already has ", mine,
                     " pulls in progress on this server, the per-caller limit "
                     "(--max_waiting_pulls_per_caller=",
                     limits_.max_waiting_pulls_per_caller,
                     "); wait for them or raise the flag"));
  ++mine;
  ++total_;
  return Slot(this, key);
}

void PullLimiter::Release(int64_t key) {
  absl::MutexLock lock(&mu_);
  --total_;
  auto it = per_caller_.find(key);
  if (--it->second == 0) per_caller_.erase(it);
}

int PullLimiter::in_progress() const {
  absl::MutexLock lock(&mu_);
  return total_;
}

}  // namespace pserve
