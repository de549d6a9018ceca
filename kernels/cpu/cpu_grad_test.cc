// Finite-difference gradient checks for every backward op of the CPU
// backend: each backward, fed dout = R into zeroed gradients, must match
// central differences of the float forward of loss = sum(out * R).
// Tolerances: |numeric - analytic| <= atol + rtol * |analytic|, with
// eps = 1e-2 (the forward is float, so smaller steps only add rounding
// noise). Linear ops (encoder, matmul, residual) get atol 1e-4, rtol 1e-3
// (observed errors stay below 1e-5); nonlinear ones (layernorm, attention,
// GELU, softmax-CE, the latter scaled by dloss) get atol 3e-4, rtol 2e-3
// (observed: up to 1.2e-4 absolute, for attention over 130 positions).
#include <memory>

#include "kernels/cpu/cpu_test_util.h"
#include "kernels/ops.h"

namespace pserve {
namespace {

using testing::Buf;
using testing::CheckGradient;
using testing::FillRandom;
using testing::FillTokens;
using testing::IntBuf;
using testing::WeightedSum;

constexpr int B = 2, T = 5, C = 8, NH = 2, V = 11, Vp = 16, OC = 12;
constexpr int N = B * T;
constexpr float kEps = 1e-2f;
constexpr double kLinearAtol = 1e-4, kLinearRtol = 1e-3;
constexpr double kAtol = 3e-4, kRtol = 2e-3;

TEST_CASE("EncoderBackward matches finite differences", "[grad]") {
  auto be = MakeCpuBackend(2);
  Buf out(be.get(), N * C), wte(be.get(), V * C), wpe(be.get(), T * C);
  Buf r(be.get(), N * C), dwte(be.get(), V * C), dwpe(be.get(), T * C);
  IntBuf inp(be.get(), N);
  FillTokens(inp, N, V, 1);
  inp[3] = inp[0];  // a repeated token accumulates into one row of dwte
  FillRandom(wte, 2);
  FillRandom(wpe, 3);
  FillRandom(r, 4);
  auto loss = [&] {
    be->EncoderForward(out.data(), inp.data(), wte.data(), wpe.data(), B, T, C);
    return WeightedSum(out.data(), r.data(), N * C);
  };
  be->EncoderBackward(dwte.data(), dwpe.data(), r.data(), inp.data(), B, T, C);
  CheckGradient("dwte", wte.data(), V * C, dwte.data(), loss, kEps, kLinearAtol,
                kLinearRtol);
  CheckGradient("dwpe", wpe.data(), T * C, dwpe.data(), loss, kEps, kLinearAtol,
                kLinearRtol);
}

TEST_CASE("LayerNormBackward matches finite differences", "[grad]") {
  auto be = MakeCpuBackend(2);
  Buf out(be.get(), N * C), mean(be.get(), N), rstd(be.get(), N);
  Buf inp(be.get(), N * C), w(be.get(), C), bias(be.get(), C);
  Buf r(be.get(), N * C), dinp(be.get(), N * C), dw(be.get(), C),
      db(be.get(), C);
  FillRandom(inp, 5, -2.0f, 2.0f);
  FillRandom(w, 6, 0.5f, 1.5f);
  FillRandom(bias, 7);
  FillRandom(r, 8);
  auto loss = [&] {
    be->LayerNormForward(out.data(), mean.data(), rstd.data(), inp.data(),
                         w.data(), bias.data(), N, C);
    return WeightedSum(out.data(), r.data(), N * C);
  };
  loss();
  be->LayerNormBackward(dinp.data(), dw.data(), db.data(), r.data(), inp.data(),
                        w.data(), mean.data(), rstd.data(), N, C);
  CheckGradient("dinp", inp.data(), N * C, dinp.data(), loss, kEps, kAtol,
                kRtol);
  CheckGradient("dweight", w.data(), C, dw.data(), loss, kEps, kAtol, kRtol);
  CheckGradient("dbias", bias.data(), C, db.data(), loss, kEps, kAtol, kRtol);
}

TEST_CASE("MatmulBackward matches finite differences", "[grad]") {
  auto be = MakeCpuBackend(2);
  Buf out(be.get(), N * OC), inp(be.get(), N * C), w(be.get(), OC * C);
  Buf bias(be.get(), OC), r(be.get(), N * OC), dinp(be.get(), N * C);
  Buf dw(be.get(), OC * C), db(be.get(), OC);
  FillRandom(inp, 9);
  FillRandom(w, 10);
  FillRandom(bias, 11);
  FillRandom(r, 12);
  auto loss = [&] {
    be->MatmulForward(out.data(), inp.data(), w.data(), bias.data(), N, C, OC);
    return WeightedSum(out.data(), r.data(), N * OC);
  };
  be->MatmulBackward(dinp.data(), dw.data(), db.data(), r.data(), inp.data(),
                     w.data(), N, C, OC);
  CheckGradient("dinp", inp.data(), N * C, dinp.data(), loss, kEps, kLinearAtol,
                kLinearRtol);
  CheckGradient("dweight", w.data(), OC * C, dw.data(), loss, kEps, kLinearAtol,
                kLinearRtol);
  CheckGradient("dbias", bias.data(), OC, db.data(), loss, kEps, kLinearAtol,
                kLinearRtol);
}

// Checks d(qkv) of attention at (b, t, c, nh); t > 64 spans several of the
// kernel's query-row blocks.
void CheckAttentionGradient(int b, int t, int c, int nh, uint32_t seed) {
  auto be = MakeCpuBackend(2);
  const size_t n_qkv = static_cast<size_t>(b) * t * 3 * c;
  const size_t n_out = static_cast<size_t>(b) * t * c;
  const size_t n_att = static_cast<size_t>(b) * nh * t * t;
  Buf qkv(be.get(), n_qkv), out(be.get(), n_out), att(be.get(), n_att);
  Buf r(be.get(), n_out), dqkv(be.get(), n_qkv), datt(be.get(), n_att);
  FillRandom(qkv, seed, -2.0f, 2.0f);
  FillRandom(r, seed + 1);
  auto loss = [&] {
    be->AttentionForward(out.data(), att.data(), qkv.data(), b, t, c, nh);
    return WeightedSum(out.data(), r.data(), n_out);
  };
  loss();
  be->AttentionBackward(dqkv.data(), datt.data(), r.data(), qkv.data(),
                        att.data(), b, t, c, nh);
  CheckGradient("dqkv", qkv.data(), n_qkv, dqkv.data(), loss, kEps, kAtol,
                kRtol);
}

TEST_CASE("AttentionBackward matches finite differences", "[grad]") {
  CheckAttentionGradient(B, T, C, NH, 13);
}

TEST_CASE("AttentionBackward matches finite differences, long rows", "[grad]") {
  CheckAttentionGradient(1, 130, C, NH, 15);
}

TEST_CASE("GeluBackward matches finite differences", "[grad]") {
  auto be = MakeCpuBackend(2);
  Buf inp(be.get(), N * C), out(be.get(), N * C), r(be.get(), N * C);
  Buf dinp(be.get(), N * C);
  FillRandom(inp, 17, -4.0f, 4.0f);
  FillRandom(r, 18);
  auto loss = [&] {
    be->GeluForward(out.data(), inp.data(), N * C);
    return WeightedSum(out.data(), r.data(), N * C);
  };
  be->GeluBackward(dinp.data(), inp.data(), r.data(), N * C);
  CheckGradient("dinp", inp.data(), N * C, dinp.data(), loss, kEps, kAtol,
                kRtol);
}

TEST_CASE("ResidualBackward matches finite differences", "[grad]") {
  auto be = MakeCpuBackend(2);
  Buf a(be.get(), N * C), b(be.get(), N * C), out(be.get(), N * C);
  Buf r(be.get(), N * C), da(be.get(), N * C), db(be.get(), N * C);
  FillRandom(a, 19);
  FillRandom(b, 20);
  FillRandom(r, 21);
  auto loss = [&] {
    be->ResidualForward(out.data(), a.data(), b.data(), N * C);
    return WeightedSum(out.data(), r.data(), N * C);
  };
  be->ResidualBackward(da.data(), db.data(), r.data(), N * C);
  CheckGradient("da", a.data(), N * C, da.data(), loss, kEps, kLinearAtol,
                kLinearRtol);
  CheckGradient("db", b.data(), N * C, db.data(), loss, kEps, kLinearAtol,
                kLinearRtol);
}

// The gradient of dloss * sum(losses) with respect to all Vp logits:
// padded columns have no effect on the loss and must get exactly 0.
TEST_CASE("SoftmaxCrossEntropy gradient matches finite differences", "[grad]") {
  auto be = MakeCpuBackend(2);
  Buf logits(be.get(), N * Vp), losses(be.get(), N), dlogits(be.get(), N * Vp);
  IntBuf targets(be.get(), N);
  FillRandom(logits, 22, -3.0f, 3.0f);
  FillTokens(targets, N, V, 23);
  const float dloss = 1.0f / N;
  auto loss = [&] {
    be->SoftmaxCrossEntropy(losses.data(), nullptr, logits.data(),
                            targets.data(), B, T, V, Vp, dloss);
    double s = 0.0;
    for (int i = 0; i < N; ++i) s += losses[i];
    return s * dloss;
  };
  for (int i = 0; i < N * Vp; ++i) dlogits[i] = 7.0f;  // must be overwritten
  be->SoftmaxCrossEntropy(losses.data(), dlogits.data(), logits.data(),
                          targets.data(), B, T, V, Vp, dloss);
  CheckGradient("dlogits", logits.data(), N * Vp, dlogits.data(), loss, kEps,
                kAtol * dloss, kRtol);
  for (int i = 0; i < N; ++i) {
    for (int j = V; j < Vp; ++j) REQUIRE(dlogits[i * Vp + j] == 0.0f);
  }
}

}  // namespace
}  // namespace pserve
