// ps_bench --suite=e2e: what the parameter server costs a training step.
// One worker (the real Trainer, sync mode) trains through 2 local ps_server
// processes, against the same loop in-process with no servers: the same
// model, batch, data, threads and AdamW, the update applied locally. The
// two alternate in rounds so both see the same machine load; prints
// ps_overhead = PS step time / in-process step time per model.
// Single-threaded driver; the backend and the update use --threads threads.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cluster/local_cluster.h"
#include "common/optimizer.h"
#include "kernels/ops.h"
#include "tools/bench_common.h"
#include "tools/ps_bench_suites.h"
#include "worker/data/data_loader.h"
#include "worker/data/token_shard.h"
#include "worker/model/gpt.h"
#include "worker/trainer.h"

ABSL_FLAG(int, e2e_steps, 6, "--suite=e2e: timed steps per round and side");
ABSL_FLAG(int, e2e_rounds, 2, "--suite=e2e: alternating rounds per model");
ABSL_FLAG(int, e2e_threads, 2, "--suite=e2e: backend and update threads");

namespace pserve {
namespace {

constexpr int kBatch = 8, kSeqLen = 256;
constexpr uint64_t kSeed = 3;
constexpr float kLr = 1e-4f;

struct E2eCase {
  std::string name;
  GptConfig config;
};

// The worker suite's two models: the small preset and its wide variant.
std::vector<E2eCase> Cases() {
  GptConfig small = *GptPreset("small");
  GptConfig wide = small;
  wide.channels = 512;
  wide.num_heads = 8;
  return {{"small L=4 C=256 NH=4", small}, {"wide  L=4 C=512 NH=8", wide}};
}

// Random tokens for 64 batches, written once; the path.
std::string WriteShard(int vocab) {
  std::vector<int32_t> tokens(64 * kBatch * (kSeqLen + 1) + 1);
  std::mt19937 gen(11);
  std::uniform_int_distribution<int32_t> token(0, vocab - 1);
  for (int32_t& t : tokens) t = token(gen);
  const std::string path =
      absl::StrCat("/tmp/pserve_e2e_", getpid(), "_", vocab, ".bin");
  return WriteTokenShard(path, tokens).ok() ? path : "";
}

// The in-process loop: same init as the servers, AdamW applied locally.
class LocalLoop {
 public:
  bool Init(const GptConfig& config, const std::string& data, int threads) {
    threads_ = threads;
    backend_ = MakeCpuBackend(threads);
    auto model = Gpt::Create(config, backend_.get());
    auto loader =
        DataLoader::Open(data, kBatch, kSeqLen, 0, 1, kSeed, config.vocab_size);
    if (!model.ok() || !loader.ok()) return false;
    model_ = *std::move(model);
    loader_.emplace(*std::move(loader));
    std::vector<float> host(model_->num_parameters());
    const std::vector<TensorSpec> specs = GptParameterSpecs(config);
    for (int t = 0; t < kNumGptTensors; ++t)
      FillInit(kSeed, specs[t].name(), 0, model_->tensor_size(t),
               specs[t].init(), host.data() + model_->tensor_offset(t));
    model_->SetParameters(host.data());
    m_.assign(host.size(), 0.0f);
    v_.assign(host.size(), 0.0f);
    opt_.lr = kLr;
    in_.resize(kBatch * kSeqLen);
    tg_.resize(kBatch * kSeqLen);
    return true;
  }

  // Seconds of `steps` steps, or -1 on error.
  double Run(int steps) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < steps; ++i) {
      loader_->NextBatch(in_.data(), tg_.data());
      auto loss = model_->Forward(in_.data(), tg_.data(), kBatch, kSeqLen);
      if (!loss.ok() || !model_->Backward().ok()) return -1;
      Update();
    }
    return Seconds(start);
  }

 private:
  void Update() {
    const int64_t P = model_->num_parameters();
    float* p = model_->params();
    const float* g = model_->grads();
#pragma omp parallel for schedule(static) num_threads(threads_)
    for (int c = 0; c < threads_; ++c) {
      const int64_t b = P * c / threads_, e = P * (c + 1) / threads_;
      ApplyUpdate(opt_, step_, p + b, g + b, m_.data() + b, v_.data() + b,
                  e - b);
    }
    ++step_;
  }

  int threads_ = 1;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Gpt> model_;
  std::optional<DataLoader> loader_;
  std::vector<float> m_, v_;  // (P) AdamW state
  std::vector<int32_t> in_, tg_;
  OptimizerConfig opt_;
  int64_t step_ = 0;
};

WorkerOptions TrainerOptions(const E2eCase& c, const LocalCluster& cluster,
                             const std::string& data, int threads) {
  WorkerOptions o;
  o.servers = cluster.addresses();
  o.data = data;
  o.model_name = c.name;
  o.config = c.config;
  o.threads = threads;
  o.batch_size = kBatch;
  o.seq_len = kSeqLen;
  o.seed = kSeed;
  o.log_every = 1000000;
  o.log_level = "warn";
  return o;
}

// Seconds per step of a trainer run up to step `to` (it resumes at the
// servers' step), or -1.
double TrainerSecondsPerStep(WorkerOptions o, int64_t to) {
  o.steps = to;
  auto trainer = Trainer::Create(o, nullptr);
  if (!trainer.ok()) {
    std::fprintf(stderr, "ps_bench: %s\n", trainer.status().ToString().c_str());
    return -1;
  }
  auto result = (*trainer)->Run();
  if (!result.ok() || result->steps != to || result->tokens_per_s <= 0)
    return -1;
  return kBatch * kSeqLen / result->tokens_per_s;
}

}  // namespace

int RunE2eSuite(const BenchServers& servers) {
  const int steps = absl::GetFlag(FLAGS_e2e_steps);
  const int rounds = absl::GetFlag(FLAGS_e2e_rounds);
  const int threads = absl::GetFlag(FLAGS_e2e_threads);
  if (steps < 1 || rounds < 1 || threads < 1) {
    std::fprintf(stderr,
                 "ps_bench: --e2e_steps, --e2e_rounds, --e2e_threads "
                 "must be >= 1\n");
    return 2;
  }
  std::vector<BenchRow> rows;
  std::string result = "RESULT";
  double worst = 0;
  for (const E2eCase& c : Cases()) {
    const std::string data = WriteShard(c.config.vocab_size);
    auto cluster = LocalCluster::Start(
        2,
        servers.With({"--num_workers=1", "--mode=sync", "--optimizer=adamw",
                      absl::StrCat("--lr=", kLr), "--log_level=warn"}),
        servers.binary);
    LocalLoop local;
    if (data.empty() || !cluster.ok() || !local.Init(c.config, data, threads)) {
      std::fprintf(stderr, "ps_bench: e2e set-up failed for %s\n",
                   c.name.c_str());
      return 1;
    }
    WorkerOptions o = TrainerOptions(c, *cluster, data, threads);
    o.security = servers.security;
    // Warm-up: first touch of every buffer on both sides.
    if (local.Run(1) < 0 || TrainerSecondsPerStep(o, 1) < 0) return 1;
    double ps = 0, in_process = 0;
    int64_t done = 1;
    for (int r = 0; r < rounds; ++r) {
      const double l = local.Run(steps);
      const double p = TrainerSecondsPerStep(o, done + steps);
      if (l < 0 || p < 0) return 1;
      in_process += l / steps;
      ps += p;
      done += steps;
    }
    unlink(data.c_str());
    const double overhead = ps / in_process;
    worst = std::max(worst, overhead);
    rows.push_back({c.name + ", in-process", in_process / rounds * 1e3,
                    "ms/step", "AdamW applied locally"});
    rows.push_back({c.name + ", 2 servers", ps / rounds * 1e3, "ms/step",
                    "sync, 1 worker, overlapped pull and push"});
    rows.push_back({c.name + ", ps_overhead", overhead, "ratio", ""});
    absl::StrAppend(&result, " ps_overhead_", c.config.channels, "=",
                    absl::StrFormat("%.3f", overhead));
  }
  PrintTable(rows);
  std::printf("%s ps_overhead=%.3f\n", result.c_str(), worst);
  return 0;
}

}  // namespace pserve
