// Request validation and dispatch for the ParameterServer service. A request
// that fails validation changes nothing: every check runs before any push
// is applied.
#include "server/service.h"

#include <chrono>
#include <cmath>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/wire_dtype.h"
#include "spdlog/spdlog.h"

namespace pserve {
namespace {

absl::Time DeadlineOf(const grpc::ServerContext* ctx) {
  auto d = ctx->deadline();
  if (d == std::chrono::system_clock::time_point::max())
    return absl::Now() + absl::Hours(1);  // bound waits of callers without one
  return std::min(absl::FromChrono(d), absl::Now() + absl::Hours(1));
}

// Scratch for decoding gradients; reused per handler thread so large pushes
// do not fault in fresh pages each time.
std::vector<float>& ThreadScratch() {
  thread_local std::vector<float> scratch;
  return scratch;
}

}  // namespace

grpc::Status ToGrpc(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()),
                      std::string(s.message()));
}

ParameterServerService::ParameterServerService(ShardStore* store,
                                               ServerRecovery* recovery,
                                               const ServiceLimits& limits)
    : store_(store),
      recovery_(recovery),
      limits_(limits),
      pull_limiter_(limits) {}

absl::Status ParameterServerService::CheckPullReplySize(
    const PullRequest& req, const std::vector<int>& local) {
  int64_t bytes = 0;
  for (int i : local)
    bytes += store_->chunk_info(i).numel * WireBytesPerElement(req.dtype());
  // Framing: key, version and length per chunk.
  bytes += 32 * static_cast<int64_t>(local.size());
  const int64_t limit = int64_t{limits_.max_message_mb} << 20;
  if (bytes <= limit) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      "the reply to this pull would be ", bytes,
      " bytes, over the server's --max_message_mb=", limits_.max_message_mb,
      "; ask for fewer keys per call or raise the flag"));
}

grpc::Status ParameterServerService::Reject(const absl::Status& status) {
  counters_.rejected.fetch_add(1);
  spdlog::warn("rejected: {}", status.ToString());
  return ToGrpc(status);
}

absl::Status ParameterServerService::CheckCaller(const Caller& caller,
                                                 bool worker_only) const {
  const int W = store_->config().num_workers;
  if (caller.role() == Caller::ADMIN && !worker_only) return absl::OkStatus();
  if (caller.role() != Caller::WORKER)
    return absl::InvalidArgumentError(
        worker_only ? "only workers (caller.role=WORKER) may push"
                    : "caller.role must be WORKER or ADMIN");
  if (caller.rank() < 0 || caller.rank() >= W)
    return absl::InvalidArgumentError(
        absl::StrCat("worker rank ", caller.rank(), " is outside [0, ", W,
                     "): this server was started with --num_workers=", W));
  return absl::OkStatus();
}

grpc::Status ParameterServerService::Init(grpc::ServerContext*,
                                          const InitRequest* req,
                                          InitResponse* resp) {
  absl::Status s = CheckCaller(req->caller(), false);
  if (!s.ok()) return Reject(s);
  if (req->caller().role() == Caller::WORKER)
    store_->rules().Heard(req->caller().rank());
  absl::StatusOr<InitResponse> r = store_->Init(*req);
  if (!r.ok()) return Reject(r.status());
  s = recovery_->OnDeclared();
  if (!s.ok()) return ToGrpc(s);
  r = store_->Init(*req);  // the versions after any restore
  if (!r.ok()) return ToGrpc(r.status());
  *resp = *std::move(r);
  resp->set_incarnation(recovery_->incarnation());
  for (int64_t step : recovery_->CheckpointSteps())
    resp->add_checkpoint_steps(step);
  return grpc::Status::OK;
}

grpc::Status ParameterServerService::Pull(grpc::ServerContext* ctx,
                                          const PullRequest* req,
                                          PullResponse* resp) {
  absl::Status s = CheckCaller(req->caller(), false);
  if (!s.ok()) return Reject(s);
  if (WireBytesPerElement(req->dtype()) == 0)
    return Reject(absl::InvalidArgumentError(absl::StrCat(
        "unknown dtype ", req->dtype(), ": use FP32, BF16 or FP16")));
  if (req->clock() < 0)
    return Reject(absl::InvalidArgumentError(
        absl::StrCat("clock ", req->clock(), " is negative")));
  // Each key at most once: the reply can then never outgrow this shard.
  absl::flat_hash_set<uint64_t> seen;
  std::vector<int> local;
  for (uint64_t key : req->keys()) {
    absl::StatusOr<int> i = store_->LocalChunk(key);
    if (!i.ok()) return Reject(i.status());
    if (!seen.insert(key).second)
      return Reject(absl::InvalidArgumentError(
          absl::StrCat("key ", key, " appears twice in one pull")));
    local.push_back(*i);
  }
  s = CheckPullReplySize(*req, local);
  if (!s.ok()) return Reject(s);
  s = CheckPullable(*req, local);
  if (!s.ok()) return ToGrpc(s);
  absl::StatusOr<PullLimiter::Slot> slot = pull_limiter_.Admit(req->caller());
  if (!slot.ok()) return Reject(slot.status());
  const absl::Time deadline = DeadlineOf(ctx);
  const int64_t generation = recovery_->generation();
  const std::function<bool()> cancelled = [this, ctx, generation] {
    return ctx->IsCancelled() || stopping_.load() ||
           recovery_->generation() != generation;
  };
  absl::Duration waited = absl::ZeroDuration();
  if (req->caller().role() == Caller::WORKER)
    store_->rules().Heard(req->caller().rank());
  if (req->caller().role() == Caller::WORKER) {
    s = store_->AwaitClock(req->caller().rank(), req->clock(), deadline,
                           cancelled, &waited);
    if (!s.ok()) return ToGrpc(s);
  }
  int64_t bytes = 0;
  for (size_t j = 0; j < local.size(); ++j) {
    s = store_->WaitVersion(local[j], req->min_version(), deadline, cancelled,
                            &waited);
    if (absl::IsCancelled(s) && recovery_->generation() != generation)
      s = absl::AbortedError(
          "this server rolled back to an earlier step while the pull waited; "
          "recover and replay from the servers' step");
    if (!s.ok()) return ToGrpc(s);
    ChunkData* out = resp->add_chunks();
    out->set_key(req->keys(j));
    out->set_version(
        store_->ReadEncoded(local[j], req->dtype(), out->mutable_data()));
    bytes += out->data().size();
  }
  const GlobalLoss loss = store_->rules().LatestGlobalLoss();
  resp->set_global_loss(loss.loss);
  resp->set_global_loss_step(loss.step);
  resp->set_incarnation(recovery_->incarnation());
  counters_.sync_wait_us.fetch_add(absl::ToInt64Microseconds(waited));
  counters_.pulls.fetch_add(1);
  counters_.bytes_out.fetch_add(bytes);
  return grpc::Status::OK;
}

absl::Status ParameterServerService::ValidatePush(
    const PushRequest& req, std::vector<int>* local) const {
  absl::Status s = CheckCaller(req.caller(), true);
  if (!s.ok()) return s;
  if (req.example_count() <= 0)
    return absl::InvalidArgumentError(absl::StrCat(
        "example_count is ", req.example_count(),
        ": every push must say how many examples (> 0) its gradient is the "
        "mean over"));
  if (!std::isfinite(req.loss()))
    return absl::InvalidArgumentError(
        absl::StrCat("the loss at step ", req.step(),
                     " is NaN or Inf; lower the learning rate"));
  const size_t elem = WireBytesPerElement(req.dtype());
  if (elem == 0)
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown dtype ", req.dtype(), ": use FP32, BF16 or FP16"));
  absl::flat_hash_set<uint64_t> seen;
  std::vector<float>& scratch = ThreadScratch();
  for (const ChunkData& c : req.chunks()) {
    absl::StatusOr<int> i = store_->LocalChunk(c.key());
    if (!i.ok()) return i.status();
    if (!seen.insert(c.key()).second)
      return absl::InvalidArgumentError(
          absl::StrCat("key ", c.key(), " appears twice in one push"));
    const int64_t numel = store_->chunk_info(*i).numel;
    if (c.data().size() != numel * elem)
      return absl::InvalidArgumentError(
          absl::StrCat("key ", c.key(), " needs ", numel * elem, " bytes (",
                       numel, " elements of ", DType_Name(req.dtype()),
                       ") but got ", c.data().size()));
    s = store_->CheckPushStep(*i, req.caller().rank(), req.step());
    if (!s.ok()) return s;
    const float* values = reinterpret_cast<const float*>(c.data().data());
    if (req.dtype() != FP32 ||
        reinterpret_cast<uintptr_t>(values) % alignof(float) != 0) {
      scratch.resize(numel);
      DecodeFloats(c.data().data(), numel, req.dtype(), scratch.data());
      values = scratch.data();
    }
    if (!AllFinite(values, numel))
      return absl::InvalidArgumentError(absl::StrCat(
          "the gradient for key ", c.key(), " at step ", req.step(),
          " contains NaN or Inf; lower the learning rate or clip gradients"));
    local->push_back(*i);
  }
  return absl::OkStatus();
}

grpc::Status ParameterServerService::Push(grpc::ServerContext*,
                                          const PushRequest* req,
                                          PushResponse* resp) {
  std::vector<int> local;
  absl::Status s = ValidatePush(*req, &local);
  if (!s.ok()) return Reject(s);
  if (store_->rules().NotePush(req->caller().rank(), req->step()))
    store_->Rejoin(req->caller().rank());
  std::vector<float>& grad = ThreadScratch();
  int64_t bytes = 0;
  for (size_t j = 0; j < local.size(); ++j) {
    const ChunkData& c = req->chunks(j);
    const float* g;
    if (req->dtype() == FP32 &&
        reinterpret_cast<uintptr_t>(c.data().data()) % alignof(float) == 0) {
      g = reinterpret_cast<const float*>(c.data().data());
    } else {
      grad.resize(c.data().size() / WireBytesPerElement(req->dtype()));
      DecodeFloats(c.data().data(), grad.size(), req->dtype(), grad.data());
      g = grad.data();
    }
    const absl::Time start = absl::Now();
    absl::StatusOr<bool> applied = store_->Push(
        local[j], req->caller().rank(), req->step(), g, req->example_count());
    if (update_seconds_ != nullptr)
      update_seconds_->Observe(absl::ToDoubleSeconds(absl::Now() - start));
    if (!applied.ok()) return Reject(applied.status());
    if (!*applied) counters_.duplicate_pushes.fetch_add(1);
    resp->add_accepted(*applied);
    bytes += c.data().size();
  }
  store_->rules().RecordLoss(req->caller().rank(), req->step(), req->loss(),
                             req->example_count());
  resp->set_incarnation(recovery_->incarnation());
  counters_.pushes.fetch_add(1);
  counters_.bytes_in.fetch_add(bytes);
  return grpc::Status::OK;
}

grpc::Status ParameterServerService::Checkpoint(grpc::ServerContext*,
                                                const CheckpointRequest* req,
                                                CheckpointResponse* resp) {
  absl::Status s = CheckCaller(req->caller(), false);
  if (!s.ok()) return Reject(s);
  if (!store_->initialized())
    return Reject(absl::FailedPreconditionError(
        "no model declared yet: nothing to checkpoint"));
  absl::StatusOr<CheckpointName> name = CheckpointName::Parse(req->name());
  if (!name.ok()) return Reject(name.status());
  if (recovery_->checkpoint_dir().empty())
    return Reject(absl::FailedPreconditionError(
        "this server has no --checkpoint_dir: restart it with "
        "--checkpoint_dir=DIR to allow checkpoints"));
  auto written = recovery_->WriteNow(
      name->PathIn(recovery_->checkpoint_dir(), store_->config().server_id));
  if (!written.ok()) return ToGrpc(written.status());
  resp->set_path(written->first);
  resp->set_bytes(written->second);
  resp->set_incarnation(recovery_->incarnation());
  return grpc::Status::OK;
}

grpc::Status ParameterServerService::GetStats(grpc::ServerContext*,
                                              const StatsRequest*,
                                              StatsResponse* resp) {
  resp->set_server_id(store_->config().server_id);
  resp->set_pushes(counters_.pushes.load());
  resp->set_pulls(counters_.pulls.load());
  resp->set_bytes_in(counters_.bytes_in.load());
  resp->set_bytes_out(counters_.bytes_out.load());
  resp->set_updates_applied(store_->updates_applied());
  resp->set_sync_wait_seconds(counters_.sync_wait_us.load() * 1e-6);
  resp->set_num_chunks(store_->initialized() ? store_->num_chunks() : 0);
  resp->set_num_params(store_->initialized() ? store_->num_params() : 0);
  auto [lo, hi] = store_->VersionRange();
  resp->set_min_version(lo);
  resp->set_max_version(hi);
  resp->set_initialized(store_->initialized());
  resp->set_duplicate_pushes(counters_.duplicate_pushes.load());
  resp->set_rejected_requests(counters_.rejected.load());
  const GlobalLoss loss = store_->rules().LatestGlobalLoss();
  resp->set_global_loss(loss.loss);
  resp->set_global_loss_step(loss.step);
  const StepWait wait = store_->rules().CurrentWait();
  resp->set_waiting_step(wait.step);
  resp->set_waiting_seconds(wait.waited_s);
  for (size_t i = 0; i < wait.ranks.size(); ++i) {
    resp->add_waiting_ranks(wait.ranks[i]);
    resp->add_waiting_last_heard_seconds(wait.last_heard_s[i]);
  }
  for (int r : store_->rules().DroppedRanks()) resp->add_dropped_ranks(r);
  resp->set_incarnation(recovery_->incarnation());
  resp->set_checkpoints_written(recovery_->checkpoints_written());
  return grpc::Status::OK;
}

// A restored or rolled-back server may be behind a worker: a sync pull of a
// version that can never come (past what the caller itself has pushed
// here) is refused at once instead of waiting for its deadline.
absl::Status ParameterServerService::CheckPullable(
    const PullRequest& req, const std::vector<int>& local) const {
  if (store_->config().mode != MODE_SYNC || !recovery_->restored() ||
      req.caller().role() != Caller::WORKER)
    return absl::OkStatus();
  for (int i : local) {
    const int64_t next = store_->NextStep(i, req.caller().rank());
    if (req.min_version() > next)
      return absl::AbortedError(absl::StrCat(
          "version ", req.min_version(),
          " was asked for, but this server "
          "restored or rolled back to a checkpoint and holds version ",
          store_->Version(i), " without rank ", req.caller().rank(),
          "'s push of step ", next, "; recover and replay"));
  }
  return absl::OkStatus();
}

grpc::Status ParameterServerService::Rollback(grpc::ServerContext*,
                                              const RollbackRequest* req,
                                              RollbackResponse* resp) {
  absl::Status s = CheckCaller(req->caller(), false);
  if (!s.ok()) return Reject(s);
  if (req->step() < 0)
    return Reject(absl::InvalidArgumentError(
        absl::StrCat("rollback step ", req->step(), " is negative")));
  s = recovery_->Rollback(req->step(), req->caller().rank());
  if (!s.ok()) return Reject(s);
  resp->set_incarnation(recovery_->incarnation());
  resp->set_step(req->step());
  return grpc::Status::OK;
}

}  // namespace pserve
