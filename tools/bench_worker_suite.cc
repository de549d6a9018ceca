// ps_bench --suite=worker: tokens/s of a CPU training step (forward,
// backward, local AdamW over all parameters; no communication) of pserve's
// Gpt on the Eigen CPU backend against PyTorch (tools/torch_step_bench.py)
// on the identical model, batch, optimizer and thread count, same run, with
// the two programs' steps alternating so both see the same machine load.
// Single-threaded driver; the backend and the update use --threads threads.
#include <omp.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/model_layout.h"
#include "common/optimizer.h"
#include "kernels/ops.h"
#include "tools/ps_bench_suites.h"
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
constexpr uint64_t kInitSeed = 1234;

struct ModelCase {
  std::string name;
  GptConfig config;
};

// A Backend that forwards every op to `inner` and adds its wall time to a
// per-op total. Only compute ops are timed; memory ops just forward.
class ProfilingBackend final : public Backend {
 public:
  explicit ProfilingBackend(Backend* inner) : inner_(inner) {}

  std::string Name() const override { return inner_->Name(); }
  float* Alloc(size_t n) override { return inner_->Alloc(n); }
  int32_t* AllocInt(size_t n) override { return inner_->AllocInt(n); }
  void Free(void* p) override { inner_->Free(p); }
  void Zero(float* p, size_t n) override {
    Timed("Zero", [&] { inner_->Zero(p, n); });
  }
  void CopyFromHost(float* dst, const float* src, size_t n) override {
    inner_->CopyFromHost(dst, src, n);
  }
  void CopyIntFromHost(int32_t* dst, const int32_t* src, size_t n) override {
    inner_->CopyIntFromHost(dst, src, n);
  }
  void CopyToHost(float* dst, const float* src, size_t n) override {
    inner_->CopyToHost(dst, src, n);
  }
  void Synchronize() override { inner_->Synchronize(); }
  void EncoderForward(float* out, const int32_t* inp, const float* wte,
                      const float* wpe, int B, int T, int C) override {
    Timed("EncoderForward",
          [&] { inner_->EncoderForward(out, inp, wte, wpe, B, T, C); });
  }
  void EncoderBackward(float* dwte, float* dwpe, const float* dout,
                       const int32_t* inp, int B, int T, int C) override {
    Timed("EncoderBackward",
          [&] { inner_->EncoderBackward(dwte, dwpe, dout, inp, B, T, C); });
  }
  void LayerNormForward(float* out, float* mean, float* rstd, const float* inp,
                        const float* weight, const float* bias, int N,
                        int C) override {
    Timed("LayerNormForward", [&] {
      inner_->LayerNormForward(out, mean, rstd, inp, weight, bias, N, C);
    });
  }
  void LayerNormBackward(float* dinp, float* dweight, float* dbias,
                         const float* dout, const float* inp,
                         const float* weight, const float* mean,
                         const float* rstd, int N, int C) override {
    Timed("LayerNormBackward", [&] {
      inner_->LayerNormBackward(dinp, dweight, dbias, dout, inp, weight, mean,
                                rstd, N, C);
    });
  }
  void MatmulForward(float* out, const float* inp, const float* weight,
                     const float* bias, int N, int C, int OC) override {
    Timed(absl::StrCat("MatmulForward ", C, "->", OC),
          [&] { inner_->MatmulForward(out, inp, weight, bias, N, C, OC); });
  }
  void MatmulBackward(float* dinp, float* dweight, float* dbias,
                      const float* dout, const float* inp, const float* weight,
                      int N, int C, int OC) override {
    Timed(absl::StrCat("MatmulBackward ", C, "->", OC), [&] {
      inner_->MatmulBackward(dinp, dweight, dbias, dout, inp, weight, N, C, OC);
    });
  }
  void AttentionForward(float* out, float* att, const float* qkv, int B, int T,
                        int C, int NH) override {
    Timed("AttentionForward",
          [&] { inner_->AttentionForward(out, att, qkv, B, T, C, NH); });
  }
  void AttentionBackward(float* dqkv, float* datt, const float* dout,
                         const float* qkv, const float* att, int B, int T,
                         int C, int NH) override {
    Timed("AttentionBackward", [&] {
      inner_->AttentionBackward(dqkv, datt, dout, qkv, att, B, T, C, NH);
    });
  }
  void GeluForward(float* out, const float* inp, size_t N) override {
    Timed("GeluForward", [&] { inner_->GeluForward(out, inp, N); });
  }
  void GeluBackward(float* dinp, const float* inp, const float* dout,
                    size_t N) override {
    Timed("GeluBackward", [&] { inner_->GeluBackward(dinp, inp, dout, N); });
  }
  void ResidualForward(float* out, const float* a, const float* b,
                       size_t N) override {
    Timed("ResidualForward", [&] { inner_->ResidualForward(out, a, b, N); });
  }
  void ResidualBackward(float* da, float* db, const float* dout,
                        size_t N) override {
    Timed("ResidualBackward",
          [&] { inner_->ResidualBackward(da, db, dout, N); });
  }
  void SoftmaxCrossEntropy(float* losses, float* dlogits, const float* logits,
                           const int32_t* targets, int B, int T, int V, int Vp,
                           float dloss) override {
    Timed("SoftmaxCrossEntropy", [&] {
      inner_->SoftmaxCrossEntropy(losses, dlogits, logits, targets, B, T, V, Vp,
                                  dloss);
    });
  }
  double SumSquares(const float* x, size_t n) override {
    double r = 0;
    Timed("SumSquares", [&] { r = inner_->SumSquares(x, n); });
    return r;
  }
  void Scale(float* x, float s, size_t n) override {
    Timed("Scale", [&] { inner_->Scale(x, s, n); });
  }

  void Reset() { totals_.clear(); }
  // Prints milliseconds per step of each op, largest first.
  void Print(int steps) const {
    std::vector<std::pair<double, std::string>> sorted;
    double sum = 0;
    for (const auto& [name, s] : totals_) {
      sorted.push_back({s, name});
      sum += s;
    }
    std::sort(sorted.rbegin(), sorted.rend());
    for (const auto& [s, name] : sorted) {
      std::printf("  %-28s %9.2f ms\n", name.c_str(), 1e3 * s / steps);
    }
    std::printf("  %-28s %9.2f ms\n", "(all ops)", 1e3 * sum / steps);
  }

 private:
  template <typename Fn>
  void Timed(const std::string& name, Fn&& fn) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    totals_[name] +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
  }

  Backend* inner_;
  std::map<std::string, double> totals_;
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
    const size_t P = model_->num_parameters();
    std::vector<float> host(P);
    const std::vector<TensorSpec> specs = GptParameterSpecs(config);
    for (int t = 0; t < kNumGptTensors; ++t) {
      FillInit(kInitSeed, specs[t].name(), 0, model_->tensor_size(t),
               specs[t].init(), host.data() + model_->tensor_offset(t));
    }
    model_->SetParameters(host.data());
    std::mt19937 gen(5678);
    std::uniform_int_distribution<int32_t> token(0, config.vocab_size - 1);
    std::vector<int32_t> tokens(kBatch * (kSeqLen + 1));
    for (int32_t& t : tokens) t = token(gen);
    inputs_.resize(kBatch * kSeqLen);
    targets_.resize(kBatch * kSeqLen);
    for (int b = 0; b < kBatch; ++b) {
      for (int t = 0; t < kSeqLen; ++t) {
        inputs_[b * kSeqLen + t] = tokens[b * (kSeqLen + 1) + t];
        targets_[b * kSeqLen + t] = tokens[b * (kSeqLen + 1) + t + 1];
      }
    }
    opt_.kind = OptimizerKind::kAdamW;
    opt_.lr = 1e-4f;
    opt_.weight_decay = 0.0f;
    // Adam state in backend (host) memory, already touched by Alloc.
    m_ = backend_->Alloc(P);
    v_ = backend_->Alloc(P);
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
    ++step_index_;
    return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                         start)
        .count();
  }

  ProfilingBackend* profiler() { return profiler_.get(); }

 private:
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

std::string DefaultTorchScript() {
  const std::string rel = "tools/torch_step_bench.py";
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n > 0) {
    const std::string runfile =
        std::string(buf, n) + ".runfiles/__main__/" + rel;
    if (access(runfile.c_str(), R_OK) == 0) return runfile;
  }
  return rel;
}

// The value of `key=` in a line of space-separated key=value fields.
std::string Field(const std::string& line, const std::string& key) {
  for (absl::string_view f : absl::StrSplit(line, ' ')) {
    if (absl::ConsumePrefix(&f, key + "=")) return std::string(f);
  }
  return "";
}

// tools/torch_step_bench.py --serve in a child process: one timed PyTorch
// step per Step() call, over a pair of pipes.
class TorchPeer {
 public:
  // Starts the peer and waits for its warmup; false (with a message) if it
  // fails to start or reports no BLAS.
  bool Start(const std::string& python, const std::vector<std::string>& args) {
    int to_child[2], from_child[2];
    if (pipe(to_child) != 0 || pipe(from_child) != 0) return false;
    // Built before fork: the child only calls async-signal-safe functions.
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(python.c_str()));
    for (const std::string& a : args) {
      argv.push_back(const_cast<char*>(a.c_str()));
    }
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(to_child[0], 0);
      dup2(from_child[1], 1);
      close(to_child[1]);
      close(from_child[0]);
      execv(python.c_str(), argv.data());
      _exit(127);
    }
    close(to_child[0]);
    close(from_child[1]);
    if (pid_ < 0) return false;
    in_ = fdopen(to_child[1], "w");
    out_ = fdopen(from_child[0], "r");
    const std::string ready = ReadLine();
    if (ready.rfind("TORCH ready", 0) != 0) {
      std::fprintf(stderr, "ps_bench: the PyTorch peer did not start\n");
      return false;
    }
    blas = Field(ready, "blas");
    blas_path = Field(ready, "blas_path");
    return true;
  }

  // Seconds of one PyTorch training step as the peer timed it, or a
  // negative value on error.
  double Step() {
    std::fputs("step\n", in_);
    std::fflush(in_);
    const std::string line = ReadLine();
    if (line.rfind("STEP ", 0) != 0) return -1;
    return std::stod(line.substr(5));
  }

  ~TorchPeer() {
    if (in_ != nullptr) {
      std::fputs("quit\n", in_);
      std::fclose(in_);
    }
    if (out_ != nullptr) std::fclose(out_);
    if (pid_ > 0) waitpid(pid_, nullptr, 0);
  }

  std::string blas, blas_path;

 private:
  std::string ReadLine() {
    std::string line;
    char buf[4096];
    while (std::fgets(buf, sizeof(buf), out_) != nullptr) {
      line += buf;
      if (!line.empty() && line.back() == '\n') {
        line.pop_back();
        return line;
      }
    }
    return line;
  }

  pid_t pid_ = -1;
  FILE* in_ = nullptr;
  FILE* out_ = nullptr;
};

std::vector<std::string> TorchArgs(const std::string& script,
                                   const GptConfig& c, int threads,
                                   int warmup) {
  return {script,           "--serve",
          "--layers",       absl::StrCat(c.num_layers),
          "--channels",     absl::StrCat(c.channels),
          "--heads",        absl::StrCat(c.num_heads),
          "--seq_len",      absl::StrCat(c.max_seq_len),
          "--vocab",        absl::StrCat(c.vocab_size),
          "--padded_vocab", absl::StrCat(c.padded_vocab_size),
          "--batch",        absl::StrCat(kBatch),
          "--threads",      absl::StrCat(threads),
          "--warmup",       absl::StrCat(warmup)};
}

// Lets the other side's idle threads (OpenMP, OpenBLAS) stop spinning
// before the next timed step starts.
void Settle() { usleep(200 * 1000); }

}  // namespace

int RunWorkerSuite() {
  const int threads = absl::GetFlag(FLAGS_threads);
  const int steps = absl::GetFlag(FLAGS_steps);
  const int warmup = absl::GetFlag(FLAGS_warmup_steps);
  const bool compare = absl::GetFlag(FLAGS_compare_torch);
  const bool profile = absl::GetFlag(FLAGS_profile);
  if (threads < 1 || steps < 1 || warmup < 0) {
    std::fprintf(stderr,
                 "ps_bench: --threads and --steps must be >= 1, "
                 "--warmup_steps >= 0\n");
    return 2;
  }
  std::string script = absl::GetFlag(FLAGS_torch_script);
  if (script.empty()) script = DefaultTorchScript();
  const std::string python = absl::GetFlag(FLAGS_python);
  if (compare && access(script.c_str(), R_OK) != 0) {
    std::fprintf(stderr,
                 "ps_bench: no PyTorch peer at %s; run from the repository "
                 "root or pass --torch_script\n",
                 script.c_str());
    return 2;
  }

  GptConfig small = *GptPreset("small");
  GptConfig wide = small;
  wide.channels = 512;
  wide.num_heads = 8;
  const std::vector<ModelCase> cases = {
      {"small L=4 C=256 NH=4", small},
      {"wide  L=4 C=512 NH=8", wide},
  };
  std::printf(
      "worker suite: training step (forward+backward+AdamW), B=%d T=%d, "
      "%d threads; pserve and PyTorch steps alternate; median of %d steps "
      "each after %d warmup\n",
      kBatch, kSeqLen, threads, steps, warmup);
  std::fflush(stdout);
  struct Row {
    std::string name;
    StepTiming pserve, torch;
    std::string blas, blas_path;
  };
  std::vector<Row> rows;
  for (const ModelCase& mc : cases) {
    Row row{mc.name, {}, {}, "", ""};
    PserveStepper pserve;
    if (!pserve.Init(mc.config, threads, profile)) return 1;
    std::unique_ptr<TorchPeer> torch;
    if (compare) {
      torch = std::make_unique<TorchPeer>();
      if (!torch->Start(python,
                        TorchArgs(script, mc.config, threads, warmup))) {
        std::fprintf(stderr,
                     "ps_bench: %s %s failed; it needs python3-torch "
                     "(tools/setup.sh --with-torch)\n",
                     python.c_str(), script.c_str());
        return 2;
      }
      row.blas = torch->blas;
      row.blas_path = torch->blas_path;
      if (row.blas == "netlib") {
        std::fprintf(stderr,
                     "ps_bench: PyTorch is on the reference (netlib) BLAS "
                     "(%s), which is no fair peer; install "
                     "libopenblas0-pthread (tools/setup.sh --with-torch) so "
                     "that Debian's alternatives switch libblas.so.3 to "
                     "OpenBLAS\n",
                     row.blas_path.c_str());
        return 3;
      }
      Settle();
    }
    for (int i = 0; i < warmup; ++i) {
      if (pserve.Step() < 0) return 1;
    }
    if (pserve.profiler() != nullptr) pserve.profiler()->Reset();
    std::vector<double> ours, theirs;
    for (int i = 0; i < steps; ++i) {
      const double s = pserve.Step();
      if (s < 0) return 1;
      ours.push_back(s);
      if (!compare) continue;
      Settle();
      const double t = torch->Step();
      if (t < 0) {
        std::fprintf(stderr, "ps_bench: the PyTorch peer failed a step\n");
        return 1;
      }
      theirs.push_back(t);
      Settle();
    }
    row.pserve = SummarizeSteps(ours, kBatch * kSeqLen);
    if (compare) row.torch = SummarizeSteps(theirs, kBatch * kSeqLen);
    if (pserve.profiler() != nullptr) {
      std::printf("pserve %s: ms per step by op\n",
                  GptConfigString(mc.config).c_str());
      pserve.profiler()->Print(steps);
    }
    if (!compare) {
      std::printf("%-22s pserve %8.0f tok/s (best %.0f)\n", mc.name.c_str(),
                  row.pserve.median_tok_s, row.pserve.best_tok_s);
    }
    std::fflush(stdout);
    rows.push_back(row);
  }
  if (!compare) return 0;

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
  return 0;
}

}  // namespace pserve
