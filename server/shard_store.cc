// Chunk storage and the optimizer; every decision about when a push is
// applied or a pull may read is delegated to Consistency. Locking: init_mu_
// only during Init; afterwards each operation locks exactly one chunk's
// mutex, so pushes and pulls of different chunks never contend.
#include "server/shard_store.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/consistency_mode.h"
#include "common/wire_dtype.h"
#include "server/checkpointer.h"
#include "spdlog/spdlog.h"

namespace pserve {

namespace {

ConsistencyConfig RulesOf(const ServerConfig& c) {
  ConsistencyConfig r;
  r.mode = c.mode;
  r.num_workers = c.num_workers;
  r.staleness = c.staleness;
  r.worker_timeout = c.worker_timeout;
  r.elastic = c.elastic;
  return r;
}

}  // namespace

ShardStore::ShardStore(const ServerConfig& config)
    : config_(config),
      rules_(RulesOf(config)),
      update_pool_(config.update_threads) {}

absl::StatusOr<InitResponse> ShardStore::Init(const InitRequest& request) {
  if (request.num_servers() != config_.num_servers)
    return absl::InvalidArgumentError(
        absl::StrCat("the declaration says num_servers=", request.num_servers(),
                     " but this server was started with --num_servers=",
                     config_.num_servers));
  if (request.num_workers() != config_.num_workers)
    return absl::InvalidArgumentError(
        absl::StrCat("the declaration says num_workers=", request.num_workers(),
                     " but this server was started with --num_workers=",
                     config_.num_workers));
  if (request.mode() != config_.mode)
    return absl::InvalidArgumentError(absl::StrCat(
        "the declaration says mode '", ConsistencyModeName(request.mode()),
        "' but this server runs --mode=", ConsistencyModeName(config_.mode)));
  absl::MutexLock lock(&init_mu_);
  if (initialized()) {
    std::string diff = DescribeDeclarationDifference(accepted_, request);
    if (!diff.empty())
      return absl::FailedPreconditionError(
          absl::StrCat("this server already holds a different model: ", diff,
                       "; restart the servers to train another model"));
  } else {
    absl::Status s = BuildChunks(request);
    if (!s.ok()) return s;
  }
  InitResponse response;
  response.set_model_hash(model_hash_);
  const bool worker = request.caller().role() == Caller::WORKER;
  const int rank = request.caller().rank();
  const bool at_min = rules_.ResumeAtMin();
  int64_t resume = at_min ? INT64_MAX : 0;
  for (const auto& c : chunks_) {
    absl::MutexLock chunk_lock(&c->mu);
    response.add_keys(c->info.key);
    response.add_versions(c->gate.version);
    if (at_min)
      resume = std::min(resume, rules_.ResumeStep(c->gate, rank));
    else if (worker)
      resume = std::max(resume, rules_.ResumeStep(c->gate, rank));
  }
  response.set_resume_step(resume == INT64_MAX ? 0 : resume);
  if (worker) response.set_caller_dropped(rules_.Dropped(rank));
  return response;
}

absl::Status ShardStore::BuildChunks(const InitRequest& request) {
  std::vector<TensorSpec> tensors(request.tensors().begin(),
                                  request.tensors().end());
  absl::StatusOr<ModelLayout> layout =
      ModelLayout::Build(tensors, request.chunk_bytes(), config_.num_servers);
  if (!layout.ok()) return layout.status();
  absl::Status fits = CheckMemory(*layout);
  if (!fits.ok()) return fits;
  layout_ = std::make_unique<ModelLayout>(*std::move(layout));
  const int states = OptimizerStateArrays(config_.optimizer.kind);
  for (int ci : layout_->ChunksOfServer(config_.server_id)) {
    auto c = std::make_unique<Chunk>();
    c->info = layout_->chunks()[ci];
    const TensorSpec& t = layout_->tensors()[c->info.tensor];
    absl::MutexLock lock(&c->mu);
    c->param.resize(c->info.numel);
    FillInit(request.seed(), t.name(), c->info.offset, c->info.numel, t.init(),
             c->param.data());
    if (states >= 1) c->m.assign(c->info.numel, 0.0f);
    if (states >= 2) c->v.assign(c->info.numel, 0.0f);
    rules_.InitGate(c->gate, c->info.numel);
    key_to_local_[c->info.key] = static_cast<int>(chunks_.size());
    num_params_ += c->info.numel;
    chunks_.push_back(std::move(c));
  }
  accepted_ = request;
  accepted_.clear_caller();
  model_hash_ = DeclarationHash(request);
  initialized_.store(true, std::memory_order_release);
  spdlog::info("model declared: {} tensors, {} params in {} chunks here",
               tensors.size(), num_params_, chunks_.size());
  return absl::OkStatus();
}

absl::Status ShardStore::CheckMemory(const ModelLayout& layout) const {
  const int64_t params = layout.BytesPerServer()[config_.server_id] / 4;
  const int arrays =
      1 + OptimizerStateArrays(config_.optimizer.kind) + rules_.StateArrays();
  const double need = static_cast<double>(params) * arrays * sizeof(float);
  const double have = static_cast<double>(sysconf(_SC_PHYS_PAGES)) *
                      static_cast<double>(sysconf(_SC_PAGE_SIZE));
  if (need > have)
    return absl::ResourceExhaustedError(absl::StrCat(
        "this server's share of the model needs ", need / (1 << 30),
        " GiB but the machine has ", have / (1 << 30),
        " GiB; use more servers (--num_servers) or a smaller model"));
  return absl::OkStatus();
}

absl::StatusOr<int> ShardStore::LocalChunk(uint64_t key) const {
  if (!initialized())
    return absl::FailedPreconditionError(
        "no model declared yet: call Init before Pull or Push");
  auto it = key_to_local_.find(key);
  if (it != key_to_local_.end()) return it->second;
  const int global = layout_->FindChunk(key);
  if (global < 0)
    return absl::NotFoundError(
        absl::StrCat("unknown key ", key, " (tensor ", key >> 32, ", chunk ",
                     key & 0xffffffffu, "): not part of the declared model"));
  return absl::InvalidArgumentError(
      absl::StrCat("key ", key, " belongs to server ",
                   layout_->chunks()[global].server, ", not to server ",
                   config_.server_id, "; check the client's --servers order"));
}

absl::Status ShardStore::CheckPushStep(int i, int rank, int64_t step) const {
  const Chunk& c = *chunks_[i];
  absl::MutexLock lock(&c.mu);
  return rules_.CheckPush(c.gate, c.info.key, rank, step);
}

absl::StatusOr<bool> ShardStore::Push(int i, int rank, int64_t step,
                                      const float* grad, int64_t examples) {
  Chunk& c = *chunks_[i];
  absl::MutexLock lock(&c.mu);
  absl::StatusOr<PushAdmission> a =
      rules_.Admit(c.gate, c.info.key, rank, step, grad, examples);
  if (!a.ok()) return a.status();
  if (a->apply != nullptr) {
    ApplyOptimizer(c, a->apply);
    rules_.Applied(c.gate);
    if (checkpointer_ != nullptr && checkpointer_->Due(c.gate.version))
      checkpointer_->Offer(i, SnapshotLocked(c));
  }
  return a->fresh;
}

void ShardStore::ApplyOptimizer(Chunk& c, const float* grad) {
  // Elementwise, so any split gives the same bits; ranges start on cache
  // lines of the chunk and are long enough to amortise the hand-off.
  constexpr int64_t kAlign = 16, kGrain = 1 << 15;
  float* p = c.param.data();
  float* m = c.m.empty() ? nullptr : c.m.data();
  float* v = c.v.empty() ? nullptr : c.v.data();
  const int64_t step = c.updates;
  update_pool_.ParallelFor(static_cast<int64_t>(c.param.size()), kAlign, kGrain,
                           [&](int64_t b, int64_t e) {
                             ApplyUpdate(config_.optimizer, step, p + b,
                                         grad + b,
                                         m == nullptr ? nullptr : m + b,
                                         v == nullptr ? nullptr : v + b, e - b);
                           });
  ++c.updates;
  updates_applied_.fetch_add(1, std::memory_order_relaxed);
}

absl::Status ShardStore::WaitVersion(int i, int64_t min_version,
                                     absl::Time deadline,
                                     const std::function<bool()>& cancelled,
                                     absl::Duration* waited) const {
  const Chunk& c = *chunks_[i];
  absl::MutexLock lock(&c.mu);
  return rules_.AwaitVersion(c.mu, c.gate, c.info.key, min_version, deadline,
                             cancelled, waited);
}
int64_t ShardStore::Read(int i, float* out) const {
  const Chunk& c = *chunks_[i];
  absl::MutexLock lock(&c.mu);
  std::memcpy(out, c.param.data(), c.param.size() * sizeof(float));
  return c.gate.version;
}

int64_t ShardStore::ReadEncoded(int i, DType dtype, std::string* out) const {
  const Chunk& c = *chunks_[i];
  const size_t n = c.info.numel;
  if (dtype == FP32) {
    // append copies once; resize would zero-fill first.
    out->clear();
    out->reserve(n * sizeof(float));
    absl::MutexLock lock(&c.mu);
    out->append(reinterpret_cast<const char*>(c.param.data()),
                n * sizeof(float));
    return c.gate.version;
  }
  out->resize(n * WireBytesPerElement(dtype));
  absl::MutexLock lock(&c.mu);
  EncodeFloats(c.param.data(), n, dtype, out->data());
  return c.gate.version;
}

std::pair<int64_t, int64_t> ShardStore::VersionRange() const {
  if (!initialized()) return {0, 0};
  int64_t lo = INT64_MAX, hi = 0;
  for (const auto& c : chunks_) {
    absl::MutexLock lock(&c->mu);
    lo = std::min(lo, c->gate.version);
    hi = std::max(hi, c->gate.version);
  }
  return {chunks_.empty() ? 0 : lo, hi};
}

void ShardStore::CheckWorkers() {
  if (!initialized() || config_.mode != MODE_SYNC) return;
  int64_t slowest = INT64_MAX;
  std::vector<char> missing(config_.num_workers, 0);
  for (const auto& c : chunks_) {
    absl::MutexLock lock(&c->mu);
    if (c->gate.version > slowest) continue;
    if (c->gate.version < slowest) {
      slowest = c->gate.version;
      std::fill(missing.begin(), missing.end(), 0);
    }
    rules_.AddMissing(c->gate, &missing);
  }
  if (chunks_.empty() || !rules_.Watch(slowest, missing)) return;
  for (const auto& c : chunks_) {
    absl::MutexLock lock(&c->mu);
    const float* mean = rules_.Recheck(c->gate);
    if (mean == nullptr) continue;
    ApplyOptimizer(*c, mean);
    rules_.Applied(c->gate);
  }
  rules_.RecheckLosses();
}

void ShardStore::WatchWorkers(absl::Notification& stop) {
  while (!stop.WaitForNotificationWithTimeout(absl::Seconds(1))) CheckWorkers();
}

ChunkSnapshot ShardStore::SnapshotLocked(const Chunk& c) const {
  ChunkSnapshot out;
  out.key = c.info.key;
  out.version = c.gate.version;
  out.updates = c.updates;
  out.param = c.param;
  out.m = c.m;
  out.v = c.v;
  out.last_step = rules_.LastSteps(c.gate);
  return out;
}

ChunkSnapshot ShardStore::Snapshot(int i) const {
  const Chunk& c = *chunks_[i];
  absl::MutexLock lock(&c.mu);
  return SnapshotLocked(c);
}

int64_t ShardStore::Version(int i) const {
  const Chunk& c = *chunks_[i];
  absl::MutexLock lock(&c.mu);
  return c.gate.version;
}

int64_t ShardStore::NextStep(int i, int rank) const {
  const Chunk& c = *chunks_[i];
  absl::MutexLock lock(&c.mu);
  return rules_.ResumeStep(c.gate, rank);
}

std::string ShardStore::Declaration() const {
  absl::MutexLock lock(&init_mu_);
  return initialized() ? accepted_.SerializeAsString() : std::string();
}

absl::Status ShardStore::CheckSnapshot(
    const std::vector<ChunkSnapshot>& chunks) const {
  if (chunks.size() != chunks_.size())
    return absl::FailedPreconditionError(
        absl::StrCat("the checkpoint has ", chunks.size(), " chunks but this ",
                     "server holds ", chunks_.size()));
  const size_t states = OptimizerStateArrays(config_.optimizer.kind);
  for (size_t i = 0; i < chunks.size(); ++i) {
    const ChunkInfo& info = chunks_[i]->info;
    const ChunkSnapshot& s = chunks[i];
    const size_t n = info.numel;
    const bool sizes =
        s.param.size() == n && s.m.size() == (states >= 1 ? n : 0) &&
        s.v.size() == (states >= 2 ? n : 0) &&
        s.last_step.size() == static_cast<size_t>(config_.num_workers);
    if (s.key != info.key || !sizes || s.version < 0)
      return absl::FailedPreconditionError(absl::StrCat(
          "chunk ", i, " of the checkpoint (key ", s.key,
          ") does not match this server's model, optimizer or worker count"));
  }
  return absl::OkStatus();
}

absl::Status ShardStore::Restore(std::vector<ChunkSnapshot> chunks,
                                 const std::vector<int64_t>& clocks) {
  if (!initialized())
    return absl::FailedPreconditionError("no model declared to restore into");
  absl::Status s = CheckSnapshot(chunks);
  if (!s.ok()) return s;
  if (clocks.size() != static_cast<size_t>(config_.num_workers))
    return absl::FailedPreconditionError(
        "the checkpoint's SSP clocks do not match --num_workers");
  for (size_t i = 0; i < chunks.size(); ++i) {
    Chunk& c = *chunks_[i];
    ChunkSnapshot& from = chunks[i];
    absl::MutexLock lock(&c.mu);
    c.param.swap(from.param);
    c.m.swap(from.m);
    c.v.swap(from.v);
    c.updates = from.updates;
    rules_.RestoreGate(c.gate, from.version, from.last_step);
  }
  rules_.RestoreClocks(clocks);
  return absl::OkStatus();
}

}  // namespace pserve
