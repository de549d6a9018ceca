// Restore on declaration, rollback and on-demand checkpoints of a server.
#include "server/recovery.h"

#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "spdlog/spdlog.h"

namespace pserve {
namespace {

uint64_t NewIncarnation() {
  std::random_device rd;
  uint64_t id = 0;
  while (id == 0) id = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  return id;
}

}  // namespace

ServerRecovery::ServerRecovery(ShardStore* store,
                               const CheckpointPolicy& policy,
                               std::string restore_from)
    : store_(store),
      policy_(policy),
      dir_(policy.dir, store->config().server_id),
      restore_from_(std::move(restore_from)),
      incarnation_(NewIncarnation()),
      checkpointer_(policy, store->config().server_id) {
  store_->set_checkpointer(&checkpointer_);
}

absl::Status ServerRecovery::Apply(ServerSnapshot snapshot,
                                   const std::string& from) {
  checkpointer_.Discard();
  absl::Status s = RestoreSnapshot(*store_, std::move(snapshot), from);
  if (!s.ok()) return s;
  restored_.store(true);
  generation_.fetch_add(1);
  return absl::OkStatus();
}

absl::Status ServerRecovery::OnDeclared() {
  absl::MutexLock lock(&mu_);
  if (declared_) return absl::OkStatus();
  if (!restore_from_.empty()) {
    absl::StatusOr<ServerSnapshot> snap = ReadCheckpointFile(restore_from_);
    if (!snap.ok()) return snap.status();
    const int64_t step = snap->step;
    absl::Status s = Apply(*std::move(snap), restore_from_);
    if (!s.ok()) return s;
    spdlog::info("restored version {} from {}", step, restore_from_);
  } else if (!policy_.dir.empty()) {
    absl::StatusOr<ServerSnapshot> snap = dir_.LoadNewest(store_->model_hash());
    if (snap.ok()) {
      const int64_t step = snap->step;
      absl::Status s = Apply(*std::move(snap), dir_.PathFor(step));
      if (!s.ok()) return s;
      spdlog::info("restored version {} from {}", step, dir_.PathFor(step));
    } else {
      spdlog::info("{}: starting fresh", std::string(snap.status().message()));
    }
  }
  declared_ = true;
  checkpointer_.Begin(store_->num_chunks(), [this](ServerSnapshot* s) {
    FillSnapshotHeader(*store_, s);
  });
  return absl::OkStatus();
}

std::vector<int64_t> ServerRecovery::CheckpointSteps() {
  if (policy_.dir.empty()) return {};
  checkpointer_.WaitIdle();
  return dir_.Steps();
}

absl::Status ServerRecovery::Rollback(int64_t step, int rank) {
  absl::MutexLock lock(&mu_);
  if (!declared_)
    return absl::FailedPreconditionError(
        "no model declared yet: call Init before Rollback");
  if (policy_.dir.empty())
    return absl::FailedPreconditionError(
        "this server has no --checkpoint_dir to roll back from");
  checkpointer_.WaitIdle();
  absl::StatusOr<ServerSnapshot> snap = dir_.Load(step, store_->model_hash());
  if (!snap.ok()) return snap.status();
  const auto [lo, hi] = store_->VersionRange();
  absl::Status s = Apply(*std::move(snap), dir_.PathFor(step));
  if (!s.ok()) return s;
  spdlog::warn(
      "rolled back from versions {}..{} to step {} ({}) at rank {}'s request",
      lo, hi, step, dir_.PathFor(step), rank);
  return absl::OkStatus();
}

absl::StatusOr<std::pair<std::string, int64_t>> ServerRecovery::WriteNow(
    const std::string& path) {
  absl::StatusOr<int64_t> bytes =
      WriteCheckpointFile(SnapshotOf(*store_), path);
  if (!bytes.ok()) return bytes.status();
  return std::make_pair(path, *bytes);
}

}  // namespace pserve
