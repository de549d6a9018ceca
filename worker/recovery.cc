// Worker-side recovery after a server restart; see recovery.h and the
// protocol at RollbackRequest in proto/ps.proto.
#include "worker/recovery.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "spdlog/spdlog.h"

namespace pserve {
namespace {

std::pair<int64_t, int64_t> Versions(const InitResponse& r) {
  if (r.versions().empty()) return {0, 0};
  auto [lo, hi] = std::minmax_element(r.versions().begin(), r.versions().end());
  return {*lo, *hi};
}

std::string DescribeServers(const std::vector<InitResponse>& replies) {
  std::vector<std::string> parts;
  for (size_t s = 0; s < replies.size(); ++s) {
    auto [lo, hi] = Versions(replies[s]);
    parts.push_back(absl::StrCat(
        "server ", s, " at versions ", lo, "..", hi, " with checkpoints [",
        absl::StrJoin(replies[s].checkpoint_steps(), ","), "]"));
  }
  return absl::StrJoin(parts, "; ");
}

// A rank that --elastic dropped on some server rejoins while the others
// train on, so the versions move under it: it resumes at the step a server
// that still counts it waits for (its resume_step) or, where every server
// dropped it, at the smallest version `lo`; the dropping servers ignore its
// pushes until the step they count it from. False if no server dropped it.
bool RejoinStep(const std::vector<InitResponse>& replies, int64_t lo,
                int64_t* step) {
  bool dropped = false;
  int64_t counted = INT64_MAX;
  for (const InitResponse& r : replies) {
    dropped |= r.caller_dropped();
    if (!r.caller_dropped()) counted = std::min(counted, r.resume_step());
  }
  if (dropped) *step = counted == INT64_MAX ? lo : counted;
  return dropped;
}

}  // namespace

absl::StatusOr<SyncPlan> PlanSyncRecovery(
    const std::vector<InitResponse>& replies,
    const std::set<int64_t>& unusable) {
  SyncPlan plan;
  if (replies.empty()) return plan;
  int64_t lo = INT64_MAX, hi = 0, next = INT64_MAX;
  for (const InitResponse& r : replies) {
    auto [l, h] = Versions(r);
    lo = std::min(lo, l), hi = std::max(hi, h);
    next = std::min(next, r.resume_step());
  }
  if (RejoinStep(replies, lo, &plan.resume_step)) {
    plan.rejoin = true;
    return plan;
  }
  if (hi <= next) {  // every chunk still holds the parameters of step next
    plan.resume_step = next;
    return plan;
  }
  std::set<int64_t> common;
  for (int64_t s : replies[0].checkpoint_steps())
    if (unusable.count(s) == 0) common.insert(s);
  for (const InitResponse& r : replies) {
    std::set<int64_t> both;
    for (int64_t s : r.checkpoint_steps())
      if (common.count(s) > 0) both.insert(s);
    common.swap(both);
  }
  auto it = common.upper_bound(lo);
  if (it == common.begin() && hi <= lo + 1) {
    // No checkpoint to replay from: carry on at the slowest chunk (as
    // without periodic checkpoints), exactly only where no chunk moved on.
    plan.resume_step = lo;
    plan.exact = false;
    return plan;
  }
  if (it == common.begin())
    return absl::FailedPreconditionError(
        absl::StrCat("the servers cannot be brought to a common step: ",
                     DescribeServers(replies),
                     "; restart every server with --restore_from of one step"));
  plan.rollback_step = plan.resume_step = *std::prev(it);
  return plan;
}

WorkerRecovery::WorkerRecovery(PsClient* client, InitRequest declaration,
                               int rank, absl::Duration timeout)
    : client_(client),
      declaration_(std::move(declaration)),
      sync_(declaration_.mode() == MODE_SYNC),
      rank_(rank),
      timeout_(timeout) {}

bool WorkerRecovery::MayBeRestart(const absl::Status& s) {
  return absl::IsAborted(s) || absl::IsFailedPrecondition(s) ||
         absl::IsOutOfRange(s) || absl::IsCancelled(s);
}

absl::StatusOr<int64_t> WorkerRecovery::Declare() {
  absl::Status s = client_->Init(declaration_);
  if (!s.ok()) return s;
  if (!sync_) return client_->resume_step();
  return BringToCommonStep();
}

// Rolls every server back until their state lets this rank resume
// exactly. Several ranks may do so at once: each rollback aborts the pulls
// waiting on it, and the ranks whose pushes it undid recover again.
absl::StatusOr<int64_t> WorkerRecovery::BringToCommonStep() {
  const absl::Time deadline = absl::Now() + timeout_;
  std::set<int64_t> unusable;
  while (true) {
    const std::vector<InitResponse>& replies = client_->init_replies();
    absl::StatusOr<SyncPlan> plan = PlanSyncRecovery(replies, unusable);
    if (!plan.ok()) return plan.status();
    if (!plan->exact)
      spdlog::warn(
          "resuming at step {} without a checkpoint to replay from ({}): "
          "chunks already past it keep their update, so this run is no "
          "longer bit-identical to one without the failure; use ps_server "
          "--checkpoint_every for exact recovery",
          plan->resume_step, DescribeServers(replies));
    if (plan->rejoin)
      spdlog::warn("rank {}: dropped by --elastic, rejoining at step {} ({})",
                   rank_, plan->resume_step, DescribeServers(replies));
    if (plan->rollback_step < 0) return plan->resume_step;
    if (absl::Now() >= deadline)
      return absl::DeadlineExceededError(absl::StrCat(
          "the servers did not reach a common step within --server_timeout: ",
          DescribeServers(replies)));
    spdlog::warn("rank {}: rolling every server back to step {} ({})", rank_,
                 plan->rollback_step, DescribeServers(replies));
    for (int server = 0; server < static_cast<int>(replies.size()); ++server) {
      absl::Status s = client_->Rollback(server, plan->rollback_step);
      if (absl::IsDataLoss(s) || absl::IsNotFound(s)) {
        spdlog::warn("{}; trying an older step", std::string(s.message()));
        unusable.insert(plan->rollback_step);
        break;
      }
      if (!s.ok()) return s;
    }
    absl::Status s = client_->Init(declaration_);
    if (!s.ok()) return s;
  }
}

void WorkerRecovery::LogLostSteps(int64_t step,
                                  const std::vector<InitResponse>& before) {
  const std::vector<InitResponse>& now = client_->init_replies();
  for (size_t s = 0; s < now.size() && s < before.size(); ++s) {
    if (now[s].incarnation() == before[s].incarnation()) continue;
    const int64_t kept = now[s].resume_step();
    spdlog::warn(
        "server {} restarted and restored its checkpoint: it holds this "
        "rank's updates up to step {}; {} steps of this rank's updates on "
        "it were lost",
        s, kept - 1, std::max<int64_t>(0, step - kept));
  }
}

absl::StatusOr<int64_t> WorkerRecovery::Recover(int64_t step,
                                                const absl::Status& cause) {
  if (!MayBeRestart(cause)) return cause;
  const std::vector<InitResponse> before = client_->init_replies();
  spdlog::warn("step {}: {}; re-reading the servers' state", step,
               std::string(cause.message()));
  absl::Status s = client_->Init(declaration_);
  if (!s.ok()) return s;
  bool restarted = false;
  for (size_t i = 0; i < before.size(); ++i)
    restarted |=
        client_->init_replies()[i].incarnation() != before[i].incarnation();
  if (!sync_) {
    if (!restarted) return cause;
    LogLostSteps(step, before);
    return step;
  }
  absl::StatusOr<int64_t> resume = BringToCommonStep();
  if (!resume.ok()) return resume.status();
  if (!restarted && *resume == step) return cause;
  if (*resume < step)
    spdlog::warn("resuming at step {}: replaying steps {}..{}", *resume,
                 *resume, step - 1);
  else
    spdlog::warn("resuming at step {}", *resume);
  return resume;
}

}  // namespace pserve
