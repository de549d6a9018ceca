// Sync barrier, async/SSP admission and pull gates. Waiters sleep on
// absl::Mutex conditions (no busy waiting) and re-check cancellation every
// 100 ms.
#include "server/consistency.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace pserve {
namespace {

constexpr absl::Duration kPollCancel = absl::Milliseconds(100);
// Steps whose losses are still being collected, at most (async: ranks may
// be far apart; the oldest open step is dropped beyond this).
constexpr size_t kMaxOpenLossSteps = 1024;

}  // namespace

Consistency::Consistency(const ConsistencyConfig& config) : config_(config) {
  const int W = config.num_workers;
  {
    absl::MutexLock lock(&clock_mu_);
    clocks_.assign(W, 0);
  }
  absl::MutexLock lock(&member_mu_);
  last_heard_.assign(W, absl::InfinitePast());
  dropped_.assign(W, 0);
  active_from_.assign(W, 0);
  last_wait_log_.assign(W, absl::InfinitePast());
}

int Consistency::StateArrays() const {
  return config_.mode == MODE_SYNC ? 3 : 0;
}

void Consistency::InitGate(ChunkGate& gate, int64_t numel) const {
  const int W = config_.num_workers;
  if (config_.mode == MODE_SYNC) {
    gate.sum.assign(numel, 0.0);
    gate.mean.assign(numel, 0.0f);
    gate.early.resize(W);
    gate.examples.assign(W, 0);
  }
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
  // A dropped or rejoined rank's pushes of past steps are accepted and
  // ignored, so it can carry on to the step it rejoins at.
  if (step < g.version && Rejoining(rank)) return absl::OkStatus();
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
                                                 const float* grad,
                                                 int64_t examples) const {
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
  if (!Expected(rank, step)) return a;                 // dropped: not counted
  g.arrived[rank] = 1;
  ++g.arrived_count;
  g.examples[rank] = examples;
  if (rank == g.next_rank) {
    AddToSum(g, grad, examples);
    ++g.next_rank;
  } else {
    g.early[rank].assign(grad, grad + g.sum.size());
  }
  SumInRankOrder(g);
  a.fresh = true;
  a.apply = MeanIfComplete(g);
  return a;
}

// The step is complete once every rank is summed or no longer expected.
const float* Consistency::MeanIfComplete(ChunkGate& g) const {
  if (g.next_rank < config_.num_workers || g.summed_examples == 0)
    return nullptr;
  const double total = static_cast<double>(g.summed_examples);
  for (size_t j = 0; j < g.mean.size(); ++j)
    g.mean[j] = static_cast<float>(g.sum[j] / total);
  return g.mean.data();
}

const float* Consistency::Recheck(ChunkGate& g) const {
  if (config_.mode != MODE_SYNC) return nullptr;
  SumInRankOrder(g);
  return MeanIfComplete(g);
}

void Consistency::AddMissing(const ChunkGate& g,
                             std::vector<char>* missing) const {
  if (config_.mode != MODE_SYNC) return;
  for (int r = 0; r < config_.num_workers; ++r)
    if (!g.arrived[r] && Expected(r, g.version)) (*missing)[r] = 1;
}

void Consistency::AddToSum(ChunkGate& g, const float* grad,
                           int64_t examples) const {
  const double n = static_cast<double>(examples);
  double* __restrict sum = g.sum.data();
  const size_t len = g.sum.size();
  if (g.summed_examples == 0) {
    for (size_t j = 0; j < len; ++j) sum[j] = n * grad[j];
  } else {
    for (size_t j = 0; j < len; ++j) sum[j] += n * grad[j];
  }
  g.summed_examples += examples;
}

// Adds the waiting pushes of the ranks now next in line.
void Consistency::SumInRankOrder(ChunkGate& g) const {
  while (g.next_rank < config_.num_workers) {
    const int r = g.next_rank;
    if (g.arrived[r]) {
      AddToSum(g, g.early[r].data(), g.examples[r]);
    } else if (Expected(r, g.version)) {
      return;  // wait for rank r
    }
    ++g.next_rank;
  }
}

void Consistency::Applied(ChunkGate& g) const {
  ++g.version;
  if (config_.mode != MODE_SYNC) return;
  g.prev_arrived.swap(g.arrived);
  std::fill(g.arrived.begin(), g.arrived.end(), 0);
  std::fill(g.examples.begin(), g.examples.end(), 0);
  g.arrived_count = 0;
  g.next_rank = 0;
  g.summed_examples = 0;
}

void Consistency::RestoreGate(ChunkGate& g, int64_t version,
                              const std::vector<int64_t>& last_step) const {
  g.version = version;
  std::fill(g.arrived.begin(), g.arrived.end(), 0);
  std::fill(g.prev_arrived.begin(), g.prev_arrived.end(), version > 0);
  std::fill(g.examples.begin(), g.examples.end(), 0);
  g.arrived_count = 0;
  g.next_rank = 0;
  g.summed_examples = 0;
  if (last_step.size() == g.last_step.size()) g.last_step = last_step;
}

int64_t Consistency::ResumeStep(const ChunkGate& g, int rank) const {
  const bool ranked = rank >= 0 && rank < config_.num_workers;
  if (config_.mode == MODE_SYNC)
    return g.version + (ranked && g.arrived[rank] ? 1 : 0);
  if (!ranked) return 0;
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

std::vector<int64_t> Consistency::Clocks() const {
  absl::MutexLock lock(&clock_mu_);
  return clocks_;
}

void Consistency::RestoreClocks(const std::vector<int64_t>& clocks) {
  absl::MutexLock lock(&clock_mu_);
  if (clocks.size() == clocks_.size()) clocks_ = clocks;
}

int64_t Consistency::MinClock() const {
  absl::MutexLock lock(&clock_mu_);
  if (clocks_.empty()) return 0;
  return *std::min_element(clocks_.begin(), clocks_.end());
}

void Consistency::RecordLoss(int rank, int64_t step, double loss,
                             int64_t examples) {
  if (rank < 0 || rank >= config_.num_workers || examples <= 0) return;
  const std::vector<char> expected = ExpectedMask(step);
  absl::MutexLock lock(&loss_mu_);
  if (step <= latest_loss_.step) return;  // a retry of a complete step
  StepLosses& s = open_losses_[step];
  if (s.examples.empty()) {
    s.loss.assign(config_.num_workers, 0.0);
    s.examples.assign(config_.num_workers, 0);
  }
  if (s.examples[rank] != 0) return;  // reported by an earlier request
  s.loss[rank] = loss;
  s.examples[rank] = examples;
  ++s.reported;
  if (AllReported(s, expected)) {
    CompleteLossLocked(step, s);
    open_losses_.erase(open_losses_.begin(), open_losses_.upper_bound(step));
  }
  while (open_losses_.size() > kMaxOpenLossSteps)
    open_losses_.erase(open_losses_.begin());
}

void Consistency::CompleteLossLocked(int64_t step, const StepLosses& s) {
  double weighted = 0;
  int64_t n = 0;
  for (int r = 0; r < config_.num_workers; ++r) {  // rank order: exact
    weighted += static_cast<double>(s.examples[r]) * s.loss[r];
    n += s.examples[r];
  }
  latest_loss_.step = step;
  latest_loss_.loss = weighted / static_cast<double>(n);
  latest_loss_.examples = n;
}

std::vector<char> Consistency::ExpectedMask(int64_t step) const {
  std::vector<char> mask(config_.num_workers);
  for (int r = 0; r < config_.num_workers; ++r) mask[r] = Expected(r, step);
  return mask;
}

bool Consistency::AllReported(const StepLosses& s,
                              const std::vector<char>& expected) const {
  if (s.reported == 0) return false;
  for (int r = 0; r < config_.num_workers; ++r)
    if (expected[r] && s.examples[r] == 0) return false;
  return true;
}

void Consistency::RecheckLosses() {
  absl::MutexLock lock(&loss_mu_);
  auto newest = open_losses_.end();  // the newest step now complete
  for (auto it = open_losses_.begin(); it != open_losses_.end(); ++it)
    if (AllReported(it->second, ExpectedMask(it->first))) newest = it;
  if (newest == open_losses_.end()) return;
  CompleteLossLocked(newest->first, newest->second);
  open_losses_.erase(open_losses_.begin(), std::next(newest));
}

GlobalLoss Consistency::LatestGlobalLoss() const {
  absl::MutexLock lock(&loss_mu_);
  return latest_loss_;
}

void Consistency::Heard(int rank) {
  if (rank < 0 || rank >= config_.num_workers) return;
  absl::MutexLock lock(&member_mu_);
  last_heard_[rank] = absl::Now();
}

bool Consistency::NotePush(int rank, int64_t step) {
  if (rank < 0 || rank >= config_.num_workers) return false;
  const absl::Time now = absl::Now();
  absl::MutexLock lock(&member_mu_);
  last_heard_[rank] = now;
  if (step > newest_push_step_) {
    newest_push_step_ = step;
    newest_push_at_ = now;
  }
  return dropped_[rank];
}

void Consistency::Rejoin(int rank, int64_t step) {
  absl::MutexLock lock(&member_mu_);
  if (!dropped_[rank]) return;
  dropped_[rank] = 0;
  active_from_[rank] = step;
  last_wait_log_[rank] = absl::InfinitePast();
  spdlog::warn("rank {} is back: it rejoins at step {}", rank, step);
}

bool Consistency::Rejoining(int rank) const {
  absl::MutexLock lock(&member_mu_);
  return dropped_[rank] || active_from_[rank] > 0;
}

bool Consistency::Expected(int rank, int64_t step) const {
  absl::MutexLock lock(&member_mu_);
  return !dropped_[rank] && active_from_[rank] <= step;
}

void Consistency::LogWaitLocked(int rank, absl::Time now) {
  if (now - last_wait_log_[rank] < absl::Minutes(1)) return;
  last_wait_log_[rank] = now;
  const absl::Time heard = last_heard_[rank];
  spdlog::warn("step {} waiting {:.0f}s for rank {} ({})", wait_.step,
               wait_.waited_s, rank,
               heard == absl::InfinitePast()
                   ? std::string("never heard from")
                   : absl::StrCat("last heard ",
                                  absl::ToInt64Seconds(now - heard), "s ago"));
}

bool Consistency::Watch(int64_t slowest_step,
                        const std::vector<char>& missing) {
  if (config_.mode != MODE_SYNC) return false;
  const absl::Time now = absl::Now();
  absl::MutexLock lock(&member_mu_);
  wait_ = StepWait();
  // Nobody waits until some rank pushed the slowest step.
  if (newest_push_step_ != slowest_step) return false;
  const absl::Duration waited = now - newest_push_at_;
  for (int r = 0; r < config_.num_workers; ++r) {
    if (!missing[r]) continue;
    wait_.ranks.push_back(r);
    wait_.last_heard_s.push_back(
        last_heard_[r] == absl::InfinitePast()
            ? -1.0
            : absl::ToDoubleSeconds(now - last_heard_[r]));
  }
  if (wait_.ranks.empty()) return false;
  wait_.step = slowest_step;
  wait_.waited_s = absl::ToDoubleSeconds(waited);
  if (waited < config_.worker_timeout) return false;
  for (int r : wait_.ranks) LogWaitLocked(r, now);
  if (!config_.elastic) return false;
  for (int r : wait_.ranks) {
    dropped_[r] = 1;
    spdlog::warn(
        "dropping rank {} (--elastic): step {} completes without it; later "
        "steps expect the other ranks until it pushes again",
        r, slowest_step);
  }
  wait_ = StepWait();
  return true;
}

StepWait Consistency::CurrentWait() const {
  absl::MutexLock lock(&member_mu_);
  return wait_;
}

bool Consistency::Dropped(int rank) const {
  if (rank < 0 || rank >= config_.num_workers) return false;
  absl::MutexLock lock(&member_mu_);
  return dropped_[rank] != 0;
}

std::vector<int> Consistency::DroppedRanks() const {
  absl::MutexLock lock(&member_mu_);
  std::vector<int> out;
  for (int r = 0; r < config_.num_workers; ++r)
    if (dropped_[r]) out.push_back(r);
  return out;
}

}  // namespace pserve
