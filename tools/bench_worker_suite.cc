// ps_bench --suite=worker: tokens/s of a CPU training step (forward,
// backward, local AdamW over all parameters; no communication) of pserve's
// Gpt on the Eigen CPU backend against PyTorch (tools/torch_step_bench.py)
// on the identical model, batch, optimizer and thread count, same run, with
// the two programs' steps alternating so both see the same machine load.
// Single-threaded driver; the backend and the update use --threads threads.
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "common/model_layout.h"
#include "common/optimizer.h"
#include "kernels/ops.h"
#include "tools/profiling_backend.h"
#include "tools/ps_bench_suites.h"
#include "tools/torch_peer.h"
#include "worker/model/gpt.h"

ABSL_FLAG(int, threads, 2,
          "worker suite: threads for pserve's CPU backend and for PyTorch");
ABSL_FLAG(int, steps, 10, "worker suite: timed training steps per model");
ABSL_FLAG(int, warmup_steps, 3,
          "worker suite: untimed training steps before the timed ones");
ABSL_FLAG(std::string, torch_script, "",
          "worker suite: path of tools/torch_step_bench.py (default: from "
          "ps_bench's runfiles, else ./tools/torch_step_bench.py)");
ABSL_FLAG(std::string, python, "/usr/bin/python3",
          "worker suite: interpreter with python3-torch");
ABSL_FLAG(bool, compare_torch, true,
          "worker suite: run the PyTorch peer (false: pserve only, no RESULT)");
ABSL_FLAG(bool, profile, false,
          "worker suite: also print pserve's milliseconds per op per step");

namespace pserve {
namespace {

constexpr int kBatch = 8;
constexpr int kSeqLen = 256;
constexpr int kTokensPerStep = kBatch * kSeqLen;
constexpr uint64_t kInitSeed = 1234;

struct ModelCase {
  std::string name;
  GptConfig config;
};

struct StepTiming {
  double median_tok_s = 0;
  double best_tok_s = 0;
};

StepTiming SummarizeSteps(std::vector<double> seconds, int tokens_per_step) {
  std::sort(seconds.begin(), seconds.end());
  const size_t n = seconds.size();
  const double median =
      n % 2 == 1 ? seconds[n / 2] : 0.5 * (seconds[n / 2 - 1] + seconds[n / 2]);
  return {tokens_per_step / median, tokens_per_step / seconds.front()};
}

// pserve's training step of one model on its own CPU backend.
class PserveStepper {
 public:
  // Builds the model with GPT-2 init and a fixed random batch; false (with
  // a message) on error.
  bool Init(const GptConfig& config, int threads, bool profile) {
    cpu_ = MakeCpuBackend(threads);
    threads_ = threads;
    backend_ = cpu_.get();
    if (profile) {
      profiler_ = std::make_unique<ProfilingBackend>(cpu_.get());
      backend_ = profiler_.get();
    }
    absl::StatusOr<std::unique_ptr<Gpt>> made = Gpt::Create(config, backend_);
    if (!made.ok()) {
      std::fprintf(stderr, "ps_bench: %s\n", made.status().ToString().c_str());
      return false;
    }
    model_ = *std::move(made);
    InitParameters(config);
    MakeRandomBatch(config.vocab_size);
    opt_.kind = OptimizerKind::kAdamW;
    opt_.lr = 1e-4f;
    opt_.weight_decay = 0.0f;
    // Adam state in backend (host) memory, already touched by Alloc.
    m_ = backend_->Alloc(model_->num_parameters());
    v_ = backend_->Alloc(model_->num_parameters());
    return true;
  }

  ~PserveStepper() {
    if (m_ != nullptr) backend_->Free(m_);
    if (v_ != nullptr) backend_->Free(v_);
  }

  // Seconds of one training step, or a negative value on error.
  double Step() {
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<float> loss =
        model_->Forward(inputs_.data(), targets_.data(), kBatch, kSeqLen);
    absl::Status s = loss.ok() ? model_->Backward() : loss.status();
    if (!s.ok()) {
      std::fprintf(stderr, "ps_bench: %s\n", s.ToString().c_str());
      return -1;
    }
    ApplyAdamW();
    ++step_index_;
    return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                         start)
        .count();
  }

  ProfilingBackend* profiler() { return profiler_.get(); }

 private:
  // The same GPT-2 init (seeded per tensor) as the parameter servers use.
  void InitParameters(const GptConfig& config) {
    std::vector<float> host(model_->num_parameters());
    const std::vector<TensorSpec> specs = GptParameterSpecs(config);
    for (int t = 0; t < kNumGptTensors; ++t) {
      FillInit(kInitSeed, specs[t].name(), 0, model_->tensor_size(t),
               specs[t].init(), host.data() + model_->tensor_offset(t));
    }
    model_->SetParameters(host.data());
  }

  // kBatch rows of kSeqLen + 1 random tokens: inputs and shifted targets.
  void MakeRandomBatch(int vocab_size) {
    std::mt19937 gen(5678);
    std::uniform_int_distribution<int32_t> token(0, vocab_size - 1);
    std::vector<int32_t> tokens(kBatch * (kSeqLen + 1));
    for (int32_t& t : tokens) t = token(gen);
    inputs_.resize(kTokensPerStep);
    targets_.resize(kTokensPerStep);
    for (int b = 0; b < kBatch; ++b) {
      for (int t = 0; t < kSeqLen; ++t) {
        inputs_[b * kSeqLen + t] = tokens[b * (kSeqLen + 1) + t];
        targets_[b * kSeqLen + t] = tokens[b * (kSeqLen + 1) + t + 1];
      }
    }
  }

  void ApplyAdamW() {
    const size_t P = model_->num_parameters();
    float* params = model_->params();
    const float* grads = model_->grads();
    // Elementwise, so splitting it over threads changes no result.
    const int64_t chunks = threads_;
#pragma omp parallel for schedule(static) num_threads(threads_)
    for (int64_t c = 0; c < chunks; ++c) {
      const size_t begin = P * c / chunks, end = P * (c + 1) / chunks;
      ApplyUpdate(opt_, step_index_, params + begin, grads + begin, m_ + begin,
                  v_ + begin, end - begin);
    }
  }

  std::unique_ptr<Backend> cpu_;
  std::unique_ptr<ProfilingBackend> profiler_;
  Backend* backend_ = nullptr;
  std::unique_ptr<Gpt> model_;
  std::vector<int32_t> inputs_, targets_;
  OptimizerConfig opt_;
  float* m_ = nullptr;
  float* v_ = nullptr;
  int threads_ = 1;
  int64_t step_index_ = 0;
};

// Lets the other side's idle threads (OpenMP, OpenBLAS) stop spinning
// before the next timed step starts.
void Settle() { usleep(200 * 1000); }

// The worker suite's flags, read and checked once.
struct SuiteOptions {
  int threads = 0;
  int steps = 0;
  int warmup = 0;
  bool compare = false;
  bool profile = false;
  std::string script;
  std::string python;
};

// One model's results: a line of the final table.
struct Row {
  std::string name;
  StepTiming pserve, torch;
  std::string blas, blas_path;
};

// Fills `options` from the flags; 0, or the exit code after a message.
int ReadSuiteOptions(SuiteOptions* options) {
  options->threads = absl::GetFlag(FLAGS_threads);
  options->steps = absl::GetFlag(FLAGS_steps);
  options->warmup = absl::GetFlag(FLAGS_warmup_steps);
  options->compare = absl::GetFlag(FLAGS_compare_torch);
  options->profile = absl::GetFlag(FLAGS_profile);
  if (options->threads < 1 || options->steps < 1 || options->warmup < 0) {
    std::fprintf(stderr,
                 "ps_bench: --threads and --steps must be >= 1, "
                 "--warmup_steps >= 0\n");
    return 2;
  }
  options->script = absl::GetFlag(FLAGS_torch_script);
  if (options->script.empty()) options->script = DefaultTorchScript();
  options->python = absl::GetFlag(FLAGS_python);
  if (options->compare && access(options->script.c_str(), R_OK) != 0) {
    std::fprintf(stderr,
                 "ps_bench: no PyTorch peer at %s; run from the repository "
                 "root or pass --torch_script\n",
                 options->script.c_str());
    return 2;
  }
  return 0;
}

// The small preset and a twice-as-wide variant of it.
std::vector<ModelCase> ModelCases() {
  GptConfig small = *GptPreset("small");
  GptConfig wide = small;
  wide.channels = 512;
  wide.num_heads = 8;
  return {
      {"small L=4 C=256 NH=4", small},
      {"wide  L=4 C=512 NH=8", wide},
  };
}

// Starts the PyTorch peer for `model` and records its BLAS in `row`; 0, or
// the exit code after a message (including a peer on the netlib BLAS).
int StartTorchPeer(const SuiteOptions& options, const ModelCase& model,
                   TorchPeer* torch, Row* row) {
  if (!torch->Start(options.python,
                    TorchArgs(options.script, model.config, kBatch,
                              options.threads, options.warmup))) {
    std::fprintf(stderr,
                 "ps_bench: %s %s failed; it needs python3-torch "
                 "(tools/setup.sh --with-torch)\n",
                 options.python.c_str(), options.script.c_str());
    return 2;
  }
  row->blas = torch->blas;
  row->blas_path = torch->blas_path;
  if (row->blas == "netlib") {
    std::fprintf(stderr,
                 "ps_bench: PyTorch is on the reference (netlib) BLAS "
                 "(%s), which is no fair peer; install "
                 "libopenblas0-pthread (tools/setup.sh --with-torch) so "
                 "that Debian's alternatives switch libblas.so.3 to "
                 "OpenBLAS\n",
                 row->blas_path.c_str());
    return 3;
  }
  Settle();
  return 0;
}

// pserve's warmup, then `steps` timed steps, each followed by one PyTorch
// step when `torch` is set; 0, or the exit code after a failed step.
int RunSteps(const SuiteOptions& options, PserveStepper* pserve,
             TorchPeer* torch, std::vector<double>* ours,
             std::vector<double>* theirs) {
  for (int i = 0; i < options.warmup; ++i) {
    if (pserve->Step() < 0) return 1;
  }
  if (pserve->profiler() != nullptr) pserve->profiler()->Reset();
  for (int i = 0; i < options.steps; ++i) {
    const double s = pserve->Step();
    if (s < 0) return 1;
    ours->push_back(s);
    if (torch == nullptr) continue;
    Settle();
    const double t = torch->Step();
    if (t < 0) {
      std::fprintf(stderr, "ps_bench: the PyTorch peer failed a step\n");
      return 1;
    }
    theirs->push_back(t);
    Settle();
  }
  return 0;
}

// Benchmarks one model (and its PyTorch peer unless --nocompare_torch) into
// `row`, printing the per-op profile and, without a peer, its line; 0, or
// the exit code after a message.
int RunModelCase(const SuiteOptions& options, const ModelCase& model,
                 Row* row) {
  PserveStepper pserve;
  if (!pserve.Init(model.config, options.threads, options.profile)) return 1;
  std::unique_ptr<TorchPeer> torch;
  if (options.compare) {
    torch = std::make_unique<TorchPeer>();
    const int rc = StartTorchPeer(options, model, torch.get(), row);
    if (rc != 0) return rc;
  }
  std::vector<double> ours, theirs;
  const int rc = RunSteps(options, &pserve, torch.get(), &ours, &theirs);
  if (rc != 0) return rc;
  row->pserve = SummarizeSteps(ours, kTokensPerStep);
  if (options.compare) row->torch = SummarizeSteps(theirs, kTokensPerStep);
  if (pserve.profiler() != nullptr) {
    std::printf("pserve %s: ms per step by op\n",
                GptConfigString(model.config).c_str());
    pserve.profiler()->Print(options.steps);
  }
  if (!options.compare) {
    std::printf("%-22s pserve %8.0f tok/s (best %.0f)\n", model.name.c_str(),
                row->pserve.median_tok_s, row->pserve.best_tok_s);
  }
  std::fflush(stdout);
  return 0;
}

// The pserve-vs-PyTorch table and the RESULT line of the model where pserve
// fares worst against PyTorch.
void PrintComparison(const std::vector<Row>& rows) {
  std::printf("%-22s %12s %12s %8s %12s %12s  %s\n", "model", "pserve tok/s",
              "torch tok/s", "ratio", "pserve best", "torch best", "BLAS");
  double min_ratio = 1e30;
  const Row* worst = nullptr;
  for (const Row& r : rows) {
    const double ratio = r.pserve.median_tok_s / r.torch.median_tok_s;
    std::printf("%-22s %12.0f %12.0f %8.2f %12.0f %12.0f  %s\n", r.name.c_str(),
                r.pserve.median_tok_s, r.torch.median_tok_s, ratio,
                r.pserve.best_tok_s, r.torch.best_tok_s, r.blas.c_str());
    if (ratio < min_ratio) {
      min_ratio = ratio;
      worst = &r;
    }
  }
  std::printf("torch BLAS: %s\n", rows.front().blas_path.c_str());
  std::printf(
      "RESULT worker_tok_s=%.0f torch_tok_s=%.0f worker_vs_torch=%.2f\n",
      worst->pserve.median_tok_s, worst->torch.median_tok_s, min_ratio);
}

}  // namespace

int RunWorkerSuite() {
  SuiteOptions options;
  if (const int rc = ReadSuiteOptions(&options); rc != 0) return rc;
  const std::vector<ModelCase> cases = ModelCases();
  std::printf(
      "worker suite: training step (forward+backward+AdamW), B=%d T=%d, "
      "%d threads; pserve and PyTorch steps alternate; median of %d steps "
      "each after %d warmup\n",
      kBatch, kSeqLen, options.threads, options.steps, options.warmup);
  std::fflush(stdout);
  std::vector<Row> rows;
  for (const ModelCase& model : cases) {
    Row row{model.name, {}, {}, "", ""};
    if (const int rc = RunModelCase(options, model, &row); rc != 0) return rc;
    rows.push_back(row);
  }
  if (!options.compare) return 0;
  PrintComparison(rows);
  return 0;
}

}  // namespace pserve
