// Chunk storage and the consistency rules. Locking: init_mu_ only during
// Init; afterwards each operation locks exactly one chunk's mutex, so pushes
// and pulls of different chunks never contend.
#include "server/shard_store.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/wire_dtype.h"
#include "spdlog/spdlog.h"

namespace pserve {

absl::StatusOr<ConsistencyMode> ParseMode(const std::string& name) {
  if (name == "sync") return ConsistencyMode::kSync;
  if (name == "async") return ConsistencyMode::kAsync;
  if (name == "ssp") return ConsistencyMode::kSsp;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown mode '", name, "': use sync, async or ssp"));
}

std::string ModeName(ConsistencyMode mode) {
  switch (mode) {
    case ConsistencyMode::kSync:
      return "sync";
    case ConsistencyMode::kAsync:
      return "async";
    case ConsistencyMode::kSsp:
      return "ssp";
  }
  return "unknown";
}

ShardStore::ShardStore(const ServerConfig& config) : config_(config) {
  ssp_clock_.Reset(config.num_workers, config.staleness);
}

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
  if (request.mode() != ModeName(config_.mode))
    return absl::InvalidArgumentError(
        absl::StrCat("the declaration says mode '", request.mode(),
                     "' but this server runs --mode=", ModeName(config_.mode)));
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
  int64_t resume = config_.mode == ConsistencyMode::kSync ? INT64_MAX : 0;
  for (const auto& c : chunks_) {
    absl::MutexLock chunk_lock(&c->mu);
    response.add_keys(c->info.key);
    response.add_versions(c->version);
    if (config_.mode == ConsistencyMode::kSync)
      resume = std::min(resume, c->version);
    else if (worker && rank >= 0 && rank < config_.num_workers)
      resume = std::max(resume, c->last_step[rank] + 1);
  }
  response.set_resume_step(resume == INT64_MAX ? 0 : resume);
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
  const int W = config_.num_workers;
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
    if (config_.mode == ConsistencyMode::kSync)
      c->accum.assign(c->info.numel, 0.0f);
    c->arrived.assign(W, 0);
    c->prev_arrived.assign(W, 0);
    c->last_step.assign(W, -1);
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
  const int arrays = 1 + OptimizerStateArrays(config_.optimizer.kind) +
                     (config_.mode == ConsistencyMode::kSync ? 1 : 0);
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

absl::Status ShardStore::CheckStepLocked(const Chunk& c, int rank,
                                         int64_t step) const {
  if (step < 0)
    return absl::OutOfRangeError(absl::StrCat("step ", step, " is negative"));
  if (config_.mode != ConsistencyMode::kSync) return absl::OkStatus();
  if (step == c.version) return absl::OkStatus();
  if (step == c.version - 1 && c.prev_arrived[rank]) return absl::OkStatus();
  if (step > c.version)
    return absl::OutOfRangeError(
        absl::StrCat("step ", step, " is from the future: key ", c.info.key,
                     " is at version ", c.version, "; pull version ", step,
                     " before pushing its gradients"));
  return absl::OutOfRangeError(
      absl::StrCat("step ", step, " is from the past: key ", c.info.key,
                   " is already at version ", c.version,
                   "; pull again and push step ", c.version));
}

absl::Status ShardStore::CheckPushStep(int i, int rank, int64_t step) const {
  const Chunk& c = *chunks_[i];
  absl::MutexLock lock(&c.mu);
  return CheckStepLocked(c, rank, step);
}

absl::StatusOr<bool> ShardStore::Push(int i, int rank, int64_t step,
                                      const float* grad) {
  Chunk& c = *chunks_[i];
  absl::MutexLock lock(&c.mu);
  absl::Status s = CheckStepLocked(c, rank, step);
  if (!s.ok()) return s;
  if (config_.mode != ConsistencyMode::kSync) {
    if (step <= c.last_step[rank]) return false;  // a retry
    c.last_step[rank] = step;
    ApplyOptimizer(c, grad);
    return true;
  }
  if (step != c.version || c.arrived[rank]) return false;  // a retry
  Accumulate(c, rank, grad);
  if (c.arrived_count == config_.num_workers) {
    const float inv = 1.0f / static_cast<float>(config_.num_workers);
    for (float& g : c.accum) g *= inv;
    ApplyOptimizer(c, c.accum.data());
    c.prev_arrived.swap(c.arrived);
    std::fill(c.arrived.begin(), c.arrived.end(), 0);
    c.arrived_count = 0;
  }
  return true;
}

void ShardStore::Accumulate(Chunk& c, int rank, const float* grad) {
  const size_t n = c.accum.size();
  if (c.arrived_count == 0) {
    std::memcpy(c.accum.data(), grad, n * sizeof(float));
  } else {
    float* __restrict a = c.accum.data();
    for (size_t j = 0; j < n; ++j) a[j] += grad[j];
  }
  c.arrived[rank] = 1;
  ++c.arrived_count;
}

void ShardStore::ApplyOptimizer(Chunk& c, const float* grad) {
  ApplyUpdate(config_.optimizer, c.updates, c.param.data(), grad,
              c.m.empty() ? nullptr : c.m.data(),
              c.v.empty() ? nullptr : c.v.data(), c.param.size());
  ++c.updates;
  ++c.version;
  updates_applied_.fetch_add(1, std::memory_order_relaxed);
}

absl::Status ShardStore::WaitVersion(int i, int64_t min_version,
                                     absl::Time deadline,
                                     const std::function<bool()>& cancelled,
                                     absl::Duration* waited) const {
  const Chunk& c = *chunks_[i];
  absl::MutexLock lock(&c.mu);
  auto ready = [&c, min_version]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(c.mu) {
    return c.version >= min_version;
  };
  const absl::Time start = absl::Now();
  while (!ready()) {
    if (cancelled && cancelled())
      return absl::CancelledError(
          "the pull was cancelled (caller gone or server shutting down)");
    const absl::Time now = absl::Now();
    if (now >= deadline)
      return absl::DeadlineExceededError(absl::StrCat(
          "key ", c.info.key, " is at version ", c.version,
          " and did not reach ", min_version,
          " before the deadline: some worker has not pushed step ", c.version));
    c.mu.AwaitWithDeadline(absl::Condition(&ready),
                           std::min(deadline, now + absl::Milliseconds(100)));
  }
  *waited += absl::Now() - start;
  return absl::OkStatus();
}

int64_t ShardStore::Read(int i, float* out) const {
  const Chunk& c = *chunks_[i];
  absl::MutexLock lock(&c.mu);
  std::memcpy(out, c.param.data(), c.param.size() * sizeof(float));
  return c.version;
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
    return c.version;
  }
  out->resize(n * WireBytesPerElement(dtype));
  absl::MutexLock lock(&c.mu);
  EncodeFloats(c.param.data(), n, dtype, out->data());
  return c.version;
}

std::pair<int64_t, int64_t> ShardStore::VersionRange() const {
  if (!initialized()) return {0, 0};
  int64_t lo = INT64_MAX, hi = 0;
  for (const auto& c : chunks_) {
    absl::MutexLock lock(&c->mu);
    lo = std::min(lo, c->version);
    hi = std::max(hi, c->version);
  }
  return {chunks_.empty() ? 0 : lo, hi};
}

}  // namespace pserve
