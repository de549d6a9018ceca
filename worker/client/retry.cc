// RetryPolicy and Retrier (see retry.h). Stateless policy; a Retrier is
// owned by the one call it retries.
#include "worker/client/retry.h"

#include <algorithm>
#include <cmath>

#include "spdlog/spdlog.h"

namespace pserve {

bool RetryPolicy::IsRetryable(const absl::Status& status) const {
  return !status.ok() && std::find(retryable.begin(), retryable.end(),
                                   status.code()) != retryable.end();
}

absl::Duration RetryPolicy::Backoff(int k) const {
  const double factor = std::pow(multiplier, std::min(k, 60));
  const absl::Duration d = initial_backoff * factor;
  return std::min(d, max_backoff);
}

Retrier::Retrier(const RetryPolicy* policy, std::string target, int server_id,
                 std::string what, bool log)
    : policy_(policy),
      target_(std::move(target)),
      server_id_(server_id),
      what_(std::move(what)),
      log_(log) {}

std::optional<absl::Duration> Retrier::Next(const absl::Status& status) {
  const absl::Time now = absl::Now();
  if (attempts_ == 0) first_failure_ = next_log_ = now;
  ++attempts_;
  if (!policy_->IsRetryable(status)) return std::nullopt;
  const absl::Duration wait = policy_->Backoff(attempts_ - 1);
  const absl::Duration waited = now - first_failure_;
  const bool out_of_attempts =
      policy_->max_attempts > 0 && attempts_ >= policy_->max_attempts;
  if (out_of_attempts || waited + wait > policy_->deadline) {
    if (log_)
      spdlog::error(
          "server {} ({}): {} after {} attempts in {:.1f} s: giving up",
          server_id_, target_, status.ToString(), attempts_,
          absl::ToDoubleSeconds(waited));
    return std::nullopt;
  }
  if (log_ && now >= next_log_) {
    spdlog::warn(
        "waiting for server {} ({}) to {}: {}; retrying for up to {:.0f} s "
        "(--server_timeout)",
        server_id_, target_, what_, std::string(status.message()),
        absl::ToDoubleSeconds(policy_->deadline));
    next_log_ = now + absl::Minutes(1);
  }
  return wait;
}

}  // namespace pserve
