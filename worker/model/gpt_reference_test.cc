// Checks the GPT model on the CPU backend against the committed PyTorch
// reference (tests/reference/gpt_reference.bin): logits, loss, every
// gradient, and the losses of 10 AdamW steps with the shared optimizer.
// Thread-safety: single-threaded tests.
#include "worker/model/gpt_reference.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/optimizer.h"
#include "kernels/ops.h"
#include "worker/model/gpt.h"

namespace pserve {
namespace {

std::string ReferencePath() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  return std::string(srcdir != nullptr ? srcdir : ".") +
         "/pserve/tests/reference/gpt_reference.bin";
}

GptReference LoadReference() {
  absl::StatusOr<GptReference> ref = ReadGptReference(ReferencePath());
  INFO(ref.status().ToString());
  REQUIRE(ref.ok());
  return *std::move(ref);
}

double MaxAbsDiff(const float* a, const float* b, size_t n) {
  double worst = 0;
  for (size_t i = 0; i < n; ++i) {
    worst = std::max(worst, std::fabs(static_cast<double>(a[i]) - b[i]));
  }
  return worst;
}

TEST_CASE("GPT logits, loss and gradients match PyTorch") {
  const GptReference ref = LoadReference();
  auto backend = MakeCpuBackend(2);
  auto model = Gpt::Create(ref.config, backend.get());
  REQUIRE(model.ok());
  Gpt& gpt = **model;
  REQUIRE(gpt.num_parameters() == ref.params.size());
  gpt.SetParameters(ref.params.data());

  absl::StatusOr<float> loss =
      gpt.Forward(ref.inputs.data(), ref.targets.data(), ref.B, ref.T);
  REQUIRE(loss.ok());
  std::vector<float> logits(ref.logits.size());
  gpt.GetLogits(logits.data());
  const double logits_err =
      MaxAbsDiff(logits.data(), ref.logits.data(), logits.size());
  const double loss_err = std::fabs(*loss - ref.loss);
  std::printf("logits max abs error %.3g, loss error %.3g (loss %.6f)\n",
              logits_err, loss_err, *loss);
  CHECK(logits_err <= 1e-4);
  CHECK(loss_err <= 1e-5);

  REQUIRE(gpt.Backward().ok());
  std::vector<float> grads(gpt.num_parameters());
  gpt.GetGradients(grads.data());
  double worst_rel = 0;
  for (int t = 0; t < kNumGptTensors; ++t) {
    const size_t off = gpt.tensor_offset(t), n = gpt.tensor_size(t);
    double max_ref = 0;
    for (size_t i = 0; i < n; ++i) {
      max_ref = std::max(max_ref, std::fabs(double{ref.grads[off + i]}));
    }
    const double err =
        MaxAbsDiff(grads.data() + off, ref.grads.data() + off, n);
    const double rel = max_ref > 0 ? err / max_ref : err;
    worst_rel = std::max(worst_rel, rel);
    INFO("tensor " << GptTensorName(t) << " max |grad| " << max_ref
                   << " max error " << err);
    CHECK(rel <= 1e-4);
  }
  std::printf("gradients: worst max error / max |grad| over tensors %.3g\n",
              worst_rel);
}

TEST_CASE("GPT AdamW losses match PyTorch's AdamW") {
  const GptReference ref = LoadReference();
  auto backend = MakeCpuBackend(2);
  auto model = Gpt::Create(ref.config, backend.get());
  REQUIRE(model.ok());
  Gpt& gpt = **model;

  OptimizerConfig opt;
  opt.kind = OptimizerKind::kAdamW;
  opt.lr = ref.lr;
  opt.beta1 = ref.beta1;
  opt.beta2 = ref.beta2;
  opt.eps = ref.eps;
  opt.weight_decay = ref.weight_decay;
  opt.schedule = LrSchedule::kConstant;
  REQUIRE(ValidateOptimizerConfig(opt).ok());

  const size_t P = gpt.num_parameters();
  std::vector<float> params = ref.params, grads(P), m(P, 0.0f), v(P, 0.0f);
  double worst = 0;
  for (size_t step = 0; step < ref.step_losses.size(); ++step) {
    gpt.SetParameters(params.data());
    absl::StatusOr<float> loss =
        gpt.Forward(ref.inputs.data(), ref.targets.data(), ref.B, ref.T);
    REQUIRE(loss.ok());
    const double err = std::fabs(*loss - ref.step_losses[step]);
    worst = std::max(worst, err);
    INFO("step " << step << " loss " << *loss << " reference "
                 << ref.step_losses[step]);
    CHECK(err <= 1e-4);
    REQUIRE(gpt.Backward().ok());
    gpt.GetGradients(grads.data());
    ApplyUpdate(opt, static_cast<int64_t>(step), params.data(), grads.data(),
                m.data(), v.data(), P);
  }
  std::printf("AdamW: %zu step losses, max abs error %.3g (%.4f -> %.4f)\n",
              ref.step_losses.size(), worst, ref.step_losses.front(),
              ref.step_losses.back());
}

}  // namespace
}  // namespace pserve
