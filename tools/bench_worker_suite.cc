// ps_bench --suite=worker: tokens/s of a CPU training step (forward,
// backward, local AdamW over all parameters; no communication) of pserve's
// Gpt on the Eigen CPU backend against PyTorch (tools/torch_step_bench.py)
// on the identical model, batch, optimizer and thread count, same run.
// Single-threaded driver; the backend and the update use --threads threads.
#include <omp.h>
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

// Times pserve's training step of `config`; false (with a message) on error.
bool TimePserve(const GptConfig& config, int threads, int warmup, int steps,
                StepTiming* out) {
  std::unique_ptr<Backend> cpu = MakeCpuBackend(threads);
  std::unique_ptr<ProfilingBackend> profiler;
  Backend* backend = cpu.get();
  if (absl::GetFlag(FLAGS_profile)) {
    profiler = std::make_unique<ProfilingBackend>(cpu.get());
    backend = profiler.get();
  }
  absl::StatusOr<std::unique_ptr<Gpt>> made = Gpt::Create(config, backend);
  if (!made.ok()) {
    std::fprintf(stderr, "ps_bench: %s\n", made.status().ToString().c_str());
    return false;
  }
  Gpt& model = **made;
  const size_t P = model.num_parameters();
  {
    std::vector<float> host(P);
    const std::vector<TensorSpec> specs = GptParameterSpecs(config);
    for (int t = 0; t < kNumGptTensors; ++t) {
      FillInit(kInitSeed, specs[t].name(), 0, model.tensor_size(t),
               specs[t].init(), host.data() + model.tensor_offset(t));
    }
    model.SetParameters(host.data());
  }
  std::mt19937 gen(5678);
  std::uniform_int_distribution<int32_t> token(0, config.vocab_size - 1);
  std::vector<int32_t> tokens(kBatch * (kSeqLen + 1));
  for (int32_t& t : tokens) t = token(gen);
  std::vector<int32_t> inputs(kBatch * kSeqLen), targets(kBatch * kSeqLen);
  for (int b = 0; b < kBatch; ++b) {
    for (int t = 0; t < kSeqLen; ++t) {
      inputs[b * kSeqLen + t] = tokens[b * (kSeqLen + 1) + t];
      targets[b * kSeqLen + t] = tokens[b * (kSeqLen + 1) + t + 1];
    }
  }
  OptimizerConfig opt;
  opt.kind = OptimizerKind::kAdamW;
  opt.lr = 1e-4f;
  opt.weight_decay = 0.0f;
  // Adam state in backend (host) memory, already touched by Alloc.
  float* m = backend->Alloc(P);
  float* v = backend->Alloc(P);
  float* params = model.params();
  const float* grads = model.grads();
  int64_t step_index = 0;
  bool ok = true;
  auto step = [&]() {
    absl::StatusOr<float> loss =
        model.Forward(inputs.data(), targets.data(), kBatch, kSeqLen);
    absl::Status s = loss.ok() ? model.Backward() : loss.status();
    if (!s.ok()) {
      std::fprintf(stderr, "ps_bench: %s\n", s.ToString().c_str());
      ok = false;
      return;
    }
    // Elementwise, so splitting it over threads changes no result.
    const int64_t chunks = threads;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t c = 0; c < chunks; ++c) {
      const size_t begin = P * c / chunks, end = P * (c + 1) / chunks;
      ApplyUpdate(opt, step_index, params + begin, grads + begin, m + begin,
                  v + begin, end - begin);
    }
    ++step_index;
  };
  for (int i = 0; i < warmup && ok; ++i) step();
  if (profiler != nullptr) profiler->Reset();
  std::vector<double> seconds;
  for (int i = 0; i < steps && ok; ++i) {
    const auto start = std::chrono::steady_clock::now();
    step();
    seconds.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count());
  }
  backend->Free(m);
  backend->Free(v);
  if (!ok) return false;
  *out = SummarizeSteps(seconds, kBatch * kSeqLen);
  if (profiler != nullptr) {
    std::printf("pserve %s: ms per step by op\n",
                GptConfigString(config).c_str());
    profiler->Print(steps);
  }
  return true;
}

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

struct TorchResult {
  double tok_s = 0;
  double best_tok_s = 0;
  std::string blas;
  std::string blas_path;
};

// Runs the PyTorch peer with `args` and parses its TORCH line; false (with
// a message) if it fails or prints none.
bool RunTorch(const std::string& python, const std::string& script,
              const std::string& args, TorchResult* out) {
  const std::string command =
      absl::StrCat("'", python, "' '", script, "' ", args);
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    std::fprintf(stderr, "ps_bench: cannot run %s\n", command.c_str());
    return false;
  }
  std::string line, result_line;
  char buf[4096];
  while (std::fgets(buf, sizeof(buf), pipe) != nullptr) {
    line += buf;
    if (!line.empty() && line.back() == '\n') {
      if (line.rfind("TORCH ", 0) == 0) result_line = line;
      line.clear();
    }
  }
  const int rc = pclose(pipe);
  if (rc != 0 || result_line.empty()) {
    std::fprintf(stderr, "ps_bench: %s failed (status %d)\n", command.c_str(),
                 rc);
    return false;
  }
  for (absl::string_view field :
       absl::StrSplit(absl::StripSuffix(result_line, "\n"), ' ')) {
    const size_t eq = field.find('=');
    if (eq == absl::string_view::npos) continue;
    const std::string key(field.substr(0, eq)), value(field.substr(eq + 1));
    if (key == "tok_s") out->tok_s = std::stod(value);
    if (key == "best_tok_s") out->best_tok_s = std::stod(value);
    if (key == "blas") out->blas = value;
    if (key == "blas_path") out->blas_path = value;
  }
  return out->tok_s > 0;
}

std::string TorchArgs(const GptConfig& c, int threads, int warmup, int steps) {
  return absl::StrCat("--layers ", c.num_layers, " --channels ", c.channels,
                      " --heads ", c.num_heads, " --seq_len ", c.max_seq_len,
                      " --vocab ", c.vocab_size, " --padded_vocab ",
                      c.padded_vocab_size, " --batch ", kBatch, " --threads ",
                      threads, " --warmup ", warmup, " --steps ", steps);
}

}  // namespace

int RunWorkerSuite() {
  const int threads = absl::GetFlag(FLAGS_threads);
  const int steps = absl::GetFlag(FLAGS_steps);
  const int warmup = absl::GetFlag(FLAGS_warmup_steps);
  if (threads < 1 || steps < 1 || warmup < 0) {
    std::fprintf(stderr,
                 "ps_bench: --threads and --steps must be >= 1, "
                 "--warmup_steps >= 0\n");
    return 2;
  }
  const bool compare = absl::GetFlag(FLAGS_compare_torch);
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

  // Check the BLAS first: a PyTorch on netlib's reference BLAS is no peer.
  TorchResult probe;
  if (compare) {
    const std::string command = absl::StrCat(
        "'", python, "' '", script, "' --blas_only --threads ", threads);
    FILE* pipe = popen(command.c_str(), "r");
    char buf[1024];
    std::string all;
    while (pipe != nullptr && std::fgets(buf, sizeof(buf), pipe) != nullptr) {
      all += buf;
    }
    if (pipe == nullptr || pclose(pipe) != 0 ||
        all.find("TORCH blas=") == std::string::npos) {
      std::fprintf(stderr,
                   "ps_bench: %s cannot import torch; install python3-torch "
                   "(tools/setup.sh --with-torch)\n",
                   python.c_str());
      return 2;
    }
    const size_t at = all.find("blas=") + 5;
    probe.blas = all.substr(at, all.find_first_of(" \n", at) - at);
  }
  if (probe.blas == "netlib") {
    std::fprintf(stderr,
                 "ps_bench: PyTorch is on the reference (netlib) BLAS, which "
                 "is no fair peer; install libopenblas0-pthread "
                 "(tools/setup.sh --with-torch) so that Debian's "
                 "alternatives switch libblas.so.3 to OpenBLAS\n");
    return 3;
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
      "%d threads, median of %d steps after %d warmup\n",
      kBatch, kSeqLen, threads, steps, warmup);
  struct Row {
    std::string name;
    StepTiming pserve;
    TorchResult torch;
  };
  std::vector<Row> rows;
  for (const ModelCase& mc : cases) {
    Row row{mc.name, {}, {}};
    if (!TimePserve(mc.config, threads, warmup, steps, &row.pserve)) return 1;
    if (!compare) {
      std::printf("%-22s pserve %8.0f tok/s (best %.0f)\n", mc.name.c_str(),
                  row.pserve.median_tok_s, row.pserve.best_tok_s);
      std::fflush(stdout);
      continue;
    }
    if (!RunTorch(python, script, TorchArgs(mc.config, threads, warmup, steps),
                  &row.torch)) {
      return 1;
    }
    if (row.torch.blas == "netlib") {
      std::fprintf(stderr, "ps_bench: PyTorch ran on netlib BLAS\n");
      return 3;
    }
    rows.push_back(row);
  }

  if (!compare) return 0;
  std::printf("%-22s %12s %12s %8s %12s %12s  %s\n", "model", "pserve tok/s",
              "torch tok/s", "ratio", "pserve best", "torch best", "BLAS");
  double min_ratio = 1e30;
  const Row* worst = nullptr;
  for (const Row& r : rows) {
    const double ratio = r.pserve.median_tok_s / r.torch.tok_s;
    std::printf("%-22s %12.0f %12.0f %8.2f %12.0f %12.0f  %s\n", r.name.c_str(),
                r.pserve.median_tok_s, r.torch.tok_s, ratio,
                r.pserve.best_tok_s, r.torch.best_tok_s, r.torch.blas.c_str());
    if (ratio < min_ratio) {
      min_ratio = ratio;
      worst = &r;
    }
  }
  std::printf("torch BLAS: %s\n", rows.front().torch.blas_path.c_str());
  std::printf(
      "RESULT worker_tok_s=%.0f torch_tok_s=%.0f worker_vs_torch=%.2f\n",
      worst->pserve.median_tok_s, worst->torch.tok_s, min_ratio);
  return 0;
}

}  // namespace pserve
