// Finite-difference gradient checks and exact values for the dense-model
// ops of the CPU backend: ReLU, sigmoid, tanh, MSE, multiclass hinge, and
// softmax cross-entropy on a small unpadded output (K = 3). Tolerances as
// in cpu_grad_test.cc: eps 1e-2, atol 3e-4, rtol 2e-3 (scaled by dloss for
// the losses). Inputs are kept away from the kinks of ReLU and hinge, where
// a central difference is not a derivative.
// Thread-safety: single-threaded Catch2 tests.
#include <cmath>
#include <memory>

#include "kernels/cpu/cpu_test_util.h"
#include "kernels/ops.h"

namespace pserve {
namespace {

using testing::Buf;
using testing::CheckGradient;
using testing::FillRandom;
using testing::IntBuf;
using testing::WeightedSum;

constexpr int N = 13, K = 3;
constexpr float kEps = 1e-2f;
constexpr double kAtol = 3e-4, kRtol = 2e-3;

double Sum(const Buf& b, int n, double scale) {
  double s = 0;
  for (int i = 0; i < n; ++i) s += b[i];
  return s * scale;
}

TEST_CASE("activation backward matches finite differences", "[dense]") {
  auto be = MakeCpuBackend(2);
  for (Activation act :
       {Activation::kRelu, Activation::kSigmoid, Activation::kTanh}) {
    Buf inp(be.get(), N * K), out(be.get(), N * K), r(be.get(), N * K);
    Buf dinp(be.get(), N * K);
    FillRandom(inp, 31, -2.0f, 2.0f);
    for (int i = 0; i < N * K; ++i)  // away from ReLU's kink at 0
      if (std::fabs(inp[i]) < 0.05f) inp[i] = 0.3f;
    FillRandom(r, 32);
    auto loss = [&] {
      be->ActivationForward(act, out.data(), inp.data(), N * K);
      return WeightedSum(out.data(), r.data(), N * K);
    };
    loss();
    for (int i = 0; i < N * K; ++i) dinp[i] = 0.5f;  // accumulates
    be->ActivationBackward(act, dinp.data(), out.data(), r.data(), N * K);
    for (int i = 0; i < N * K; ++i) dinp[i] -= 0.5f;
    CheckGradient("dinp", inp.data(), N * K, dinp.data(), loss, kEps, kAtol,
                  kRtol);
  }
}

TEST_CASE("activation values, in place", "[dense]") {
  auto be = MakeCpuBackend(1);
  Buf x(be.get(), 3);
  x.Set({-1.0f, 0.0f, 2.0f});
  be->ActivationForward(Activation::kRelu, x.data(), x.data(), 3);
  CHECK(x.Get() == std::vector<float>{0.0f, 0.0f, 2.0f});
  x.Set({0.0f, 0.0f, 0.0f});
  be->ActivationForward(Activation::kSigmoid, x.data(), x.data(), 3);
  CHECK(x[1] == 0.5f);
  x.Set({1.0f, 0.0f, -1.0f});
  be->ActivationForward(Activation::kTanh, x.data(), x.data(), 3);
  CHECK(x[0] == Approx(std::tanh(1.0)));
}

TEST_CASE("MSE value and gradient", "[dense]") {
  auto be = MakeCpuBackend(2);
  Buf pred(be.get(), N * K), target(be.get(), N * K), losses(be.get(), N);
  Buf dpred(be.get(), N * K);
  FillRandom(pred, 33, -2.0f, 2.0f);
  FillRandom(target, 34, -2.0f, 2.0f);
  const float dloss = 1.0f / N;
  auto loss = [&] {
    be->MseLoss(losses.data(), nullptr, pred.data(), target.data(), N, K,
                dloss);
    return Sum(losses, N, dloss);
  };
  be->MseLoss(losses.data(), dpred.data(), pred.data(), target.data(), N, K,
              dloss);
  const double d0 = pred[0] - target[0], d1 = pred[1] - target[1],
               d2 = pred[2] - target[2];
  CHECK(losses[0] == Approx((d0 * d0 + d1 * d1 + d2 * d2) / 3).epsilon(1e-5));
  CheckGradient("dpred", pred.data(), N * K, dpred.data(), loss, kEps,
                kAtol * dloss, kRtol);
}

TEST_CASE("hinge value and subgradient", "[dense]") {
  auto be = MakeCpuBackend(2);
  Buf scores(be.get(), N * K), losses(be.get(), N), ds(be.get(), N * K);
  IntBuf labels(be.get(), N);
  FillRandom(scores, 35, -2.0f, 2.0f);
  for (int r = 0; r < N; ++r) {
    labels[r] = r % K;
    for (int j = 0; j < K; ++j) {  // keep every margin off its kink at 0
      const float m = 1.0f + scores[r * K + j] - scores[r * K + r % K];
      if (j != r % K && std::fabs(m) < 0.05f) scores[r * K + j] += 0.2f;
    }
  }
  const float dloss = 1.0f / N;
  auto loss = [&] {
    be->HingeLoss(losses.data(), nullptr, scores.data(), labels.data(), N, K,
                  dloss);
    return Sum(losses, N, dloss);
  };
  be->HingeLoss(losses.data(), ds.data(), scores.data(), labels.data(), N, K,
                dloss);
  CheckGradient("dscores", scores.data(), N * K, ds.data(), loss, kEps,
                kAtol * dloss, kRtol);
  scores.Set({3.0f, 0.5f, 2.5f});  // label 0: margins -1.5 and 0.5
  labels[0] = 0;
  be->HingeLoss(losses.data(), ds.data(), scores.data(), labels.data(), 1, K,
                1.0f);
  CHECK(losses[0] == Approx(0.5));
  CHECK(ds.Get()[0] == -1.0f);
  CHECK(ds.Get()[1] == 0.0f);
  CHECK(ds.Get()[2] == 1.0f);
}

TEST_CASE("cross-entropy on a small unpadded output", "[dense]") {
  auto be = MakeCpuBackend(2);
  Buf logits(be.get(), N * K), losses(be.get(), N), dl(be.get(), N * K);
  IntBuf labels(be.get(), N);
  FillRandom(logits, 36, -3.0f, 3.0f);
  for (int r = 0; r < N; ++r) labels[r] = (r * 7) % K;
  const float dloss = 1.0f / N;
  auto loss = [&] {
    be->SoftmaxCrossEntropy(losses.data(), nullptr, logits.data(),
                            labels.data(), N, 1, K, K, dloss);
    return Sum(losses, N, dloss);
  };
  be->SoftmaxCrossEntropy(losses.data(), dl.data(), logits.data(),
                          labels.data(), N, 1, K, K, dloss);
  CheckGradient("dlogits", logits.data(), N * K, dl.data(), loss, kEps,
                kAtol * dloss, kRtol);
}

}  // namespace
}  // namespace pserve
