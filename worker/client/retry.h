// The PS client's one retry rule: which status codes are retried, how many
// attempts, the backoff between them and the time limit, as one type
// (RetryPolicy), and the per-call bookkeeping that applies it (Retrier).
// Every RPC the client makes (Init, Pull, Push, GetStats, Checkpoint,
// Rollback) goes through a Retrier. RetryPolicy is a value: thread-safe to
// share. A Retrier is not thread-safe: one per call being retried.
#ifndef PSERVE_WORKER_CLIENT_RETRY_H_
#define PSERVE_WORKER_CLIENT_RETRY_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace pserve {

struct RetryPolicy {
  // Attempts of one call, the first included; 0: no limit but `deadline`.
  int max_attempts = 0;
  // Before retry k (k = 0, 1, ...): initial_backoff * multiplier^k, capped.
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  double multiplier = 2.0;
  // How long after a call's first failure it is still retried (the
  // workers' --server_timeout).
  absl::Duration deadline = absl::Seconds(300);
  // Codes worth another attempt: the server was unreachable or restarting.
  // A push may be retried because the servers apply a (rank, step, key)
  // once; every other RPC is read-only or idempotent.
  std::vector<absl::StatusCode> retryable = {absl::StatusCode::kUnavailable};

  bool IsRetryable(const absl::Status& status) const;
  // The wait before retry `k` (0-based). Never blocks.
  absl::Duration Backoff(int k) const;
};

// Applies a policy to one call to one server: Next() after each failed
// attempt says how long to wait before the next one, or that the call has
// failed for good. Logs the first retry and then once a minute what is
// waited for, and the giving-up.
class Retrier {
 public:
  // `policy` must outlive this. `what` names the call in logs ("answer
  // Pull"); target/server_id name the server; `log` false keeps it quiet
  // (one of many calls to the same server that another one reports).
  Retrier(const RetryPolicy* policy, std::string target, int server_id,
          std::string what, bool log = true);

  // After a failed attempt with `status`: the backoff to sleep before the
  // next attempt, or nullopt when the status is not retryable, the attempts
  // are used up or the next attempt would start past the deadline (counted
  // from the first failure). Never blocks.
  std::optional<absl::Duration> Next(const absl::Status& status);

  int attempts() const { return attempts_; }  // attempts failed so far

 private:
  const RetryPolicy* policy_;
  const std::string target_;
  const int server_id_;
  const std::string what_;
  const bool log_;
  absl::Time first_failure_;
  absl::Time next_log_;
  int attempts_ = 0;
};

// Runs `attempt` (returns absl::Status) until it succeeds or `retrier`
// gives up, sleeping each backoff on the calling thread. Returns the last
// attempt's status. Blocks.
template <typename Attempt>
absl::Status RunWithRetry(Retrier& retrier, Attempt attempt) {
  while (true) {
    absl::Status s = attempt();
    if (s.ok()) return s;
    std::optional<absl::Duration> wait = retrier.Next(s);
    if (!wait) return s;
    absl::SleepFor(*wait);
  }
}

}  // namespace pserve

#endif  // PSERVE_WORKER_CLIENT_RETRY_H_
