// ps_bench --suite=worker: tokens/s of a CPU training step (forward,
// backward, local AdamW over all parameters; no communication) of pserve's
// Gpt on the Eigen CPU backend against PyTorch (tools/torch_step_bench.py)
// on the identical model, batch, optimizer and thread count, and the step's
// flop rate against the machine's sgemm (Eigen and OpenBLAS), same run,
// with steps and products alternating so all see the same machine load.
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
#include "tools/gemm_limit.h"
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
ABSL_FLAG(int, gemm_n, 2048,
          "worker suite: size n of the n x n x n sgemm timed after each "
          "step (Eigen, and OpenBLAS through PyTorch) as the machine's limit");

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

double Median(std::vector<double> x) {
  std::sort(x.begin(), x.end());
  const size_t n = x.size();
  return n == 0 ? 0 : n % 2 == 1 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

StepTiming SummarizeSteps(const std::vector<double>& seconds,
                          int tokens_per_step) {
  return {tokens_per_step / Median(seconds),
          tokens_per_step / *std::min_element(seconds.begin(), seconds.end())};
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
  int gemm_n = 0;
  std::string script;
  std::string python;
};

// Seconds of each timed sample of one model's run, in order.
struct Samples {
  std::vector<double> ours, theirs;            // training steps
  std::vector<double> eigen_gemm, torch_gemm;  // one sgemm each
};

// One model's results: a line of the final tables.
struct Row {
  std::string name;
  StepTiming pserve, torch;
  std::string blas, blas_path;
  double step_flops = 0;                     // llm.c's count for one step
  double eigen_gflops = 0, blas_gflops = 0;  // median sgemm rates
};

// Fills `options` from the flags; 0, or the exit code after a message.
int ReadSuiteOptions(SuiteOptions* options) {
  options->threads = absl::GetFlag(FLAGS_threads);
  options->steps = absl::GetFlag(FLAGS_steps);
  options->warmup = absl::GetFlag(FLAGS_warmup_steps);
  options->compare = absl::GetFlag(FLAGS_compare_torch);
  options->profile = absl::GetFlag(FLAGS_profile);
  options->gemm_n = absl::GetFlag(FLAGS_gemm_n);
  if (options->threads < 1 || options->steps < 1 || options->warmup < 0 ||
      options->gemm_n < 64 || options->gemm_n > 8192) {
    std::fprintf(stderr,
                 "ps_bench: --threads and --steps must be >= 1, "
                 "--warmup_steps >= 0, --gemm_n in 64..8192\n");
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

// One PyTorch step and one OpenBLAS sgemm (n^3) in the peer; 0, or the
// exit code after a message.
int TorchSamples(TorchPeer* torch, int n, Samples* samples) {
  const double t = torch->Step();
  Settle();
  const double g = t < 0 ? -1 : torch->Gemm(n);
  if (t < 0 || g < 0) {
    std::fprintf(stderr, "ps_bench: the PyTorch peer failed a step\n");
    return 1;
  }
  samples->theirs.push_back(t);
  samples->torch_gemm.push_back(g);
  Settle();
  return 0;
}

// pserve's warmup (and one untimed Eigen sgemm), then `steps` timed steps,
// each followed by one Eigen sgemm and, when `torch` is set, one PyTorch
// step and one OpenBLAS sgemm; 0, or the exit code after a failed step.
int RunSteps(const SuiteOptions& options, PserveStepper* pserve,
             TorchPeer* torch, EigenGemm* gemm, Samples* samples) {
  for (int i = 0; i < options.warmup; ++i) {
    if (pserve->Step() < 0) return 1;
  }
  gemm->Time();
  if (pserve->profiler() != nullptr) pserve->profiler()->Reset();
  for (int i = 0; i < options.steps; ++i) {
    const double s = pserve->Step();
    if (s < 0) return 1;
    samples->ours.push_back(s);
    samples->eigen_gemm.push_back(gemm->Time());
    if (torch == nullptr) continue;
    Settle();
    if (const int rc = TorchSamples(torch, options.gemm_n, samples); rc != 0)
      return rc;
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
  EigenGemm gemm(options.gemm_n, options.threads);
  Samples samples;
  const int rc = RunSteps(options, &pserve, torch.get(), &gemm, &samples);
  if (rc != 0) return rc;
  row->pserve = SummarizeSteps(samples.ours, kTokensPerStep);
  row->step_flops = LlmcFlopsPerToken(model.config, kSeqLen) * kTokensPerStep;
  row->eigen_gflops = gemm.Flops() / Median(samples.eigen_gemm) / 1e9;
  if (options.compare) {
    row->torch = SummarizeSteps(samples.theirs, kTokensPerStep);
    row->blas_gflops = gemm.Flops() / Median(samples.torch_gemm) / 1e9;
  }
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

// The sgemm rate a row's step is held against: the faster library's.
double GemmLimit(const Row& r) {
  return std::max(r.eigen_gflops, r.blas_gflops);
}

double WorkerVsGemm(const Row& r) {
  return r.step_flops * r.pserve.median_tok_s / kTokensPerStep / 1e9 /
         GemmLimit(r);
}

// The step-flops-vs-sgemm table (OpenBLAS only with the PyTorch peer).
void PrintGemmTable(const std::vector<Row>& rows, int n) {
  std::printf(
      "step flops: llm.c's 6*N + 6*L*C*T per token (N all parameters), "
      "%d tokens per step; sgemm: %d^3 float, median of the products timed "
      "between steps\n",
      kTokensPerStep, n);
  std::printf("%-22s %10s %10s %12s %14s %14s\n", "model", "GFLOP/step",
              "step GF/s", "eigen GF/s", "openblas GF/s", "worker_vs_gemm");
  for (const Row& r : rows) {
    std::printf("%-22s %10.2f %10.1f %12.1f %14.1f %14.2f\n", r.name.c_str(),
                r.step_flops / 1e9,
                r.step_flops * r.pserve.median_tok_s / kTokensPerStep / 1e9,
                r.eigen_gflops, r.blas_gflops, WorkerVsGemm(r));
  }
}

// The pserve-vs-PyTorch table and the RESULT line: each ratio is the
// smaller of the models' (tokens/s are the worst model's against PyTorch).
void PrintComparison(const std::vector<Row>& rows) {
  std::printf("%-22s %12s %12s %8s %12s %12s  %s\n", "model", "pserve tok/s",
              "torch tok/s", "ratio", "pserve best", "torch best", "BLAS");
  double min_ratio = 1e30, min_gemm = 1e30;
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
    min_gemm = std::min(min_gemm, WorkerVsGemm(r));
  }
  std::printf("torch BLAS: %s\n", rows.front().blas_path.c_str());
  std::printf(
      "RESULT worker_tok_s=%.0f torch_tok_s=%.0f worker_vs_torch=%.2f "
      "worker_vs_gemm=%.2f\n",
      worst->pserve.median_tok_s, worst->torch.median_tok_s, min_ratio,
      min_gemm);
}

}  // namespace

int RunWorkerSuite() {
  SuiteOptions options;
  if (const int rc = ReadSuiteOptions(&options); rc != 0) return rc;
  const std::vector<ModelCase> cases = ModelCases();
  std::printf(
      "worker suite: training step (forward+backward+AdamW), B=%d T=%d, "
      "%d threads; pserve and PyTorch steps and sgemms alternate; median of "
      "%d steps "
      "each after %d warmup\n",
      kBatch, kSeqLen, options.threads, options.steps, options.warmup);
  std::fflush(stdout);
  std::vector<Row> rows;
  for (const ModelCase& model : cases) {
    Row row{model.name, {}, {}, "", ""};
    if (const int rc = RunModelCase(options, model, &row); rc != 0) return rc;
    rows.push_back(row);
  }
  PrintGemmTable(rows, options.gemm_n);
  if (!options.compare) return 0;
  PrintComparison(rows);
  return 0;
}

}  // namespace pserve
