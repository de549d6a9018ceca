// The whole GPT model on the CUDA backend (fp32, TF32 off) against the CPU
// backend: the `tiny` preset with identical parameters, one Forward and
// Backward on the same tokens, comparing loss, logits and every gradient
// tensor. Without a usable GPU it prints one SKIPPED line and passes.
// Thread-safety: single-threaded test.
//
// Tolerances (cuBLAS and Eigen sum matmul products in different orders, the
// GPU reduces bias/layernorm/attention sums in chunks, and expf/tanhf differ
// by ulps; per-op errors are a few float eps, see cuda_backend_test.cc, and
// they compound over the layers of the forward and the backward pass):
//   loss                  |gpu - cpu| <= 1e-5 * |cpu|
//   logits, each gradient max_i |gpu_i - cpu_i| <= 1e-4 * max_i |cpu_i|,
//                         per tensor (an all-zero tensor must match exactly)
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "kernels/ops.h"
#include "worker/model/gpt.h"
#include "worker/model/gpt_config.h"
#include "worker/model/gpt_test_util.h"

namespace pserve {
namespace {

constexpr double kLossRelTol = 1e-5;
constexpr double kTensorTol = 1e-4;
constexpr int kBatch = 4;
constexpr int kSeqLen = 64;

struct Run {
  float loss = 0.0f;
  std::vector<float> logits, grads;
};

Run ForwardBackward(Gpt& gpt, const std::vector<int32_t>& inputs,
                    const std::vector<int32_t>& targets) {
  Run r;
  absl::StatusOr<float> loss =
      gpt.Forward(inputs.data(), targets.data(), kBatch, kSeqLen);
  REQUIRE(loss.ok());
  r.loss = *loss;
  r.logits.resize(static_cast<size_t>(kBatch) * kSeqLen *
                  gpt.config().padded_vocab_size);
  gpt.GetLogits(r.logits.data());
  REQUIRE(gpt.Backward().ok());
  r.grads.resize(gpt.num_parameters());
  gpt.GetGradients(r.grads.data());
  return r;
}

struct Diff {
  double max_err = 0.0;    // max_i |gpu_i - cpu_i|
  double max_ref = 0.0;    // max_i |cpu_i|
  bool all_finite = true;  // no NaN or Inf on the GPU side
};

Diff Compare(const float* gpu, const float* cpu, size_t n) {
  Diff d;
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(gpu[i])) d.all_finite = false;
    d.max_err = std::max(d.max_err, std::fabs(double(gpu[i]) - cpu[i]));
    d.max_ref = std::max(d.max_ref, std::fabs(double(cpu[i])));
  }
  return d;
}

void CheckWithin(const std::string& what, const Diff& d) {
  const double rel = d.max_ref > 0.0 ? d.max_err / d.max_ref : d.max_err;
  std::printf("  %-8s max|cpu| %.3e  max err %.3e  (%.2e of max)\n",
              what.c_str(), d.max_ref, d.max_err, rel);
  CAPTURE(what, d.max_ref, d.max_err, rel);
  CHECK(d.all_finite);
  CHECK(d.max_err <= kTensorTol * d.max_ref);
}

TEST_CASE("tiny GPT: CUDA forward and backward match the CPU backend") {
  absl::StatusOr<std::unique_ptr<Backend>> gpu =
      MakeCudaBackend(0, /*tf32=*/false);
  if (!gpu.ok()) {
    std::printf("SKIPPED: no CUDA GPU present (%s)\n",
                std::string(gpu.status().message()).c_str());
    return;
  }
  std::unique_ptr<Backend> cpu = MakeCpuBackend(2);
  absl::StatusOr<GptConfig> config = GptPreset("tiny");
  REQUIRE(config.ok());
  REQUIRE(kSeqLen <= config->max_seq_len);

  absl::StatusOr<std::unique_ptr<Gpt>> cpu_model =
      Gpt::Create(*config, cpu.get());
  absl::StatusOr<std::unique_ptr<Gpt>> gpu_model =
      Gpt::Create(*config, gpu->get());
  REQUIRE(cpu_model.ok());
  REQUIRE(gpu_model.ok());
  const std::vector<float> params = InitParams(*config, 1234);
  REQUIRE(params.size() == (*cpu_model)->num_parameters());
  (*cpu_model)->SetParameters(params.data());
  (*gpu_model)->SetParameters(params.data());

  const size_t n = static_cast<size_t>(kBatch) * kSeqLen;
  const std::vector<int32_t> inputs = RandomTokens(n, config->vocab_size, 5);
  const std::vector<int32_t> targets = RandomTokens(n, config->vocab_size, 6);
  const Run c = ForwardBackward(**cpu_model, inputs, targets);
  const Run g = ForwardBackward(**gpu_model, inputs, targets);

  std::printf("tiny GPT B=%d T=%d (%s): loss cpu %.7f gpu %.7f\n", kBatch,
              kSeqLen, GptConfigString(*config).c_str(), c.loss, g.loss);
  CHECK(std::isfinite(g.loss));
  CHECK(std::fabs(double(g.loss) - c.loss) <= kLossRelTol * std::fabs(c.loss));

  CheckWithin("logits",
              Compare(g.logits.data(), c.logits.data(), c.logits.size()));
  for (int t = 0; t < kNumGptTensors; ++t) {
    const size_t off = (*cpu_model)->tensor_offset(t);
    const size_t size = (*cpu_model)->tensor_size(t);
    CheckWithin(GptTensorName(t),
                Compare(g.grads.data() + off, c.grads.data() + off, size));
  }
}

}  // namespace
}  // namespace pserve
