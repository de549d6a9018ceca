// Sync barrier, async/SSP admission and pull gates. Waiters sleep on
// absl::Mutex conditions (no busy waiting) and re-check cancellation every
// 100 ms.
#include "server/consistency.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace pserve {
namespace {

constexpr absl::Duration kPollCancel = absl::Milliseconds(100);

}  // namespace

Consistency::Consistency(const ConsistencyConfig& config) : config_(config) {
  absl::MutexLock lock(&clock_mu_);
  clocks_.assign(config.num_workers, 0);
}

int Consistency::StateArrays() const {
  return config_.mode == MODE_SYNC ? 1 : 0;
}

void Consistency::InitGate(ChunkGate& gate, int64_t numel) const {
  const int W = config_.num_workers;
  if (config_.mode == MODE_SYNC) gate.accum.assign(numel, 0.0f);
  gate.arrived.assign(W, 0);
  gate.prev_arrived.assign(W, 0);
  gate.last_step.assign(W, -1);
}

absl::Status Consistency::CheckPush(const ChunkGate& g, uint64_t key, int rank,
                                    int64_t step) const {
  if (step < 0)
    return absl::OutOfRangeError(absl::StrCat("step ", step, " is negative"));
  if (config_.mode != MODE_SYNC) return absl::OkStatus();
  if (step == g.version) return absl::OkStatus();
  if (step == g.version - 1 && g.prev_arrived[rank]) return absl::OkStatus();
  if (step > g.version)
    return absl::OutOfRangeError(absl::StrCat(
        "step ", step, " is from the future: key ", key, " is at version ",
        g.version, "; pull version ", step, " before pushing its gradients"));
  return absl::OutOfRangeError(absl::StrCat(
      "step ", step, " is from the past: key ", key, " is already at version ",
      g.version, "; pull again and push step ", g.version));
}

absl::StatusOr<PushAdmission> Consistency::Admit(ChunkGate& g, uint64_t key,
                                                 int rank, int64_t step,
                                                 const float* grad) const {
  absl::Status s = CheckPush(g, key, rank, step);
  if (!s.ok()) return s;
  PushAdmission a;
  if (config_.mode != MODE_SYNC) {
    if (step <= g.last_step[rank]) return a;  // a retry
    g.last_step[rank] = step;
    a.fresh = true;
    a.apply = grad;
    return a;
  }
  if (step != g.version || g.arrived[rank]) return a;  // a retry
  const size_t n = g.accum.size();
  if (g.arrived_count == 0) {
    std::memcpy(g.accum.data(), grad, n * sizeof(float));
  } else {
    float* __restrict sum = g.accum.data();
    for (size_t j = 0; j < n; ++j) sum[j] += grad[j];
  }
  g.arrived[rank] = 1;
  ++g.arrived_count;
  a.fresh = true;
  if (g.arrived_count == config_.num_workers) {
    const float inv = 1.0f / static_cast<float>(config_.num_workers);
    for (float& v : g.accum) v *= inv;
    a.apply = g.accum.data();
  }
  return a;
}

void Consistency::Applied(ChunkGate& g) const {
  ++g.version;
  if (config_.mode != MODE_SYNC) return;
  g.prev_arrived.swap(g.arrived);
  std::fill(g.arrived.begin(), g.arrived.end(), 0);
  g.arrived_count = 0;
}

void Consistency::RestoreGate(ChunkGate& g, int64_t version) const {
  g.version = version;
  std::fill(g.arrived.begin(), g.arrived.end(), 0);
  std::fill(g.prev_arrived.begin(), g.prev_arrived.end(), 0);
  g.arrived_count = 0;
}

int64_t Consistency::ResumeStep(const ChunkGate& g, int rank) const {
  if (config_.mode == MODE_SYNC) return g.version;
  if (rank < 0 || rank >= config_.num_workers) return 0;
  return g.last_step[rank] + 1;
}

absl::Status Consistency::AwaitVersion(absl::Mutex& mu, const ChunkGate& g,
                                       uint64_t key, int64_t min_version,
                                       absl::Time deadline,
                                       const std::function<bool()>& cancelled,
                                       absl::Duration* waited) const {
  auto ready = [&g, min_version]() { return g.version >= min_version; };
  const absl::Time start = absl::Now();
  while (!ready()) {
    if (cancelled && cancelled())
      return absl::CancelledError(
          "the pull was cancelled (caller gone or server shutting down)");
    const absl::Time now = absl::Now();
    if (now >= deadline)
      return absl::DeadlineExceededError(absl::StrCat(
          "key ", key, " is at version ", g.version, " and did not reach ",
          min_version, " before the deadline: some worker has not pushed step ",
          g.version));
    mu.AwaitWithDeadline(absl::Condition(&ready),
                         std::min(deadline, now + kPollCancel));
  }
  *waited += absl::Now() - start;
  return absl::OkStatus();
}

absl::Status Consistency::AwaitClock(int rank, int64_t clock,
                                     absl::Time deadline,
                                     const std::function<bool()>& cancelled,
                                     absl::Duration* waited) {
  if (config_.mode != MODE_SSP) return absl::OkStatus();
  absl::MutexLock lock(&clock_mu_);
  if (rank < 0 || rank >= static_cast<int>(clocks_.size()))
    return absl::InvalidArgumentError("rank outside the clock table");
  clocks_[rank] = std::max(clocks_[rank], clock);
  const int64_t need = clock - config_.staleness;
  auto ready = [this, need]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(clock_mu_) {
    return *std::min_element(clocks_.begin(), clocks_.end()) >= need;
  };
  const absl::Time start = absl::Now();
  while (!ready()) {
    if (cancelled && cancelled())
      return absl::CancelledError(
          "the pull was cancelled (caller gone or server shutting down)");
    const absl::Time now = absl::Now();
    if (now >= deadline)
      return absl::DeadlineExceededError(
          absl::StrCat("worker ", rank, " at clock ", clock,
                       " waited for the slowest worker to reach clock ", need,
                       " until its deadline"));
    clock_mu_.AwaitWithDeadline(absl::Condition(&ready),
                                std::min(deadline, now + kPollCancel));
  }
  *waited += absl::Now() - start;
  return absl::OkStatus();
}

int64_t Consistency::MinClock() const {
  absl::MutexLock lock(&clock_mu_);
  if (clocks_.empty()) return 0;
  return *std::min_element(clocks_.begin(), clocks_.end());
}

}  // namespace pserve
