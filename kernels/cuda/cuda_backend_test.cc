// Every op of the CUDA backend against the CPU backend on seeded random
// inputs of several shapes (including sizes that are not multiples of any
// block size), with overwritten outputs poisoned (NaN) before each run.
// Without a usable GPU every case prints one SKIPPED line and passes.
// Thread-safety: single-threaded test.
//
// Tolerances (err_i = |gpu_i - cpu_i|, scale_i = max(|cpu_i|, rms(cpu))):
//   kExact  1e-6  residual, scale, encoder (the same float adds in the same
//                 order; only FMA contraction may differ)
//   kFp32   1e-5  elementwise math (expf/tanhf differ by ulps between CUDA
//                 and glibc/Eigen) and fp32 matmuls: cuBLAS and Eigen sum K
//                 products in different orders; the rounding error of a
//                 random-sign dot product grows like eps*sqrt(K)*rms(terms),
//                 i.e. a few eps relative to the rms of the result.
//   kReduce 5e-5  sums over all N rows (bias, layernorm weight/bias grads,
//                 attention over T keys) and softmax denominators: the same
//                 argument with n up to ~1000 terms in a different order
//                 (two-pass chunked sums on the GPU, sequential on the CPU)
//                 gives up to ~30 eps of the result's rms.
//   kTf32   1e-3  TF32 products, as relative Frobenius error ||g-c|| / ||c||:
//                 inputs keep 10 mantissa bits (relative error ~2^-11 per
//                 product), so the expected error is ~4e-4 of the rms, and a
//                 pointwise maximum over 10^5+ elements would be ~5x that.
//   kTf32Chain 3e-3  attention's dqkv under TF32: three TF32 products in
//                 sequence (q k^T, dout v^T, then dpreatt k or q), each adding
//                 ~4e-4, plus the cancellation in the softmax backward.
//   SumSquares (double accumulation on both sides) within 1e-6 relative.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "kernels/cuda/cuda_test_util.h"
#include "kernels/ops.h"

namespace pserve {
namespace testing {
namespace {

constexpr double kExact = 1e-6;
constexpr double kFp32 = 1e-5;
constexpr double kReduce = 5e-5;
constexpr double kTf32 = 1e-3;
constexpr double kTf32Chain = 3e-3;

TEST_CASE("memory: Alloc zeroes, copies round-trip, Zero clears") {
  SKIP_WITHOUT_GPU();
  Backend* gpu = GetEnv().gpu.get();
  const size_t n = 1001;
  float* p = gpu->Alloc(n);
  std::vector<float> h(n, 1.0f);
  gpu->CopyToHost(h.data(), p, n);
  CHECK(std::all_of(h.begin(), h.end(), [](float x) { return x == 0.0f; }));
  const std::vector<float> r = Randn(n, 1);
  gpu->CopyFromHost(p, r.data(), n);
  gpu->CopyToHost(h.data(), p, n);
  CHECK(h == r);
  gpu->Zero(p, n);
  gpu->Synchronize();
  gpu->CopyToHost(h.data(), p, n);
  CHECK(std::all_of(h.begin(), h.end(), [](float x) { return x == 0.0f; }));
  gpu->Free(p);
  CHECK(gpu->Name() == "cuda");
}

TEST_CASE("encoder forward and backward") {
  SKIP_WITHOUT_GPU();
  Env& env = GetEnv();
  struct Shape {
    int B, T, C, V;
  };
  for (Shape s : {Shape{1, 1, 1, 1}, Shape{2, 5, 7, 11}, Shape{3, 33, 129, 50},
                  Shape{4, 64, 768, 300}}) {
    CAPTURE(s.B, s.T, s.C, s.V);
    const size_t N = size_t(s.B) * s.T;
    IntPair inp(env.gpu.get(), RandInts(N, s.V, 2));
    Pair wte(env.gpu.get(), Randn(size_t(s.V) * s.C, 3));
    Pair wpe(env.gpu.get(), Randn(size_t(s.T) * s.C, 4));
    Pair out(env.gpu.get(), Nans(N * s.C));
    env.cpu->EncoderForward(out.c, inp.c, wte.c, wpe.c, s.B, s.T, s.C);
    env.gpu->EncoderForward(out.g, inp.g, wte.g, wpe.g, s.B, s.T, s.C);
    ExpectClose("out", out, kExact);

    Pair dout(env.gpu.get(), Randn(N * s.C, 5));
    Pair dwte(env.gpu.get(), Randn(size_t(s.V) * s.C, 6));
    Pair dwpe(env.gpu.get(), Randn(size_t(s.T) * s.C, 7));
    env.cpu->EncoderBackward(dwte.c, dwpe.c, dout.c, inp.c, s.B, s.T, s.C);
    env.gpu->EncoderBackward(dwte.g, dwpe.g, dout.g, inp.g, s.B, s.T, s.C);
    ExpectClose("dwte", dwte, kExact);
    ExpectClose("dwpe", dwpe, kExact);
    // Deterministic: a second accumulation gives the same bits.
    const std::vector<float> first = dwte.Gpu();
    dwte.Set(Randn(size_t(s.V) * s.C, 6));
    env.gpu->EncoderBackward(dwte.g, dwpe.g, dout.g, inp.g, s.B, s.T, s.C);
    CHECK(dwte.Gpu() == first);
  }
}

TEST_CASE("layernorm forward and backward") {
  SKIP_WITHOUT_GPU();
  Env& env = GetEnv();
  for (auto [N, C] : std::vector<std::pair<int, int>>{
           {1, 1}, {1, 7}, {37, 33}, {300, 768}, {513, 1000}}) {
    CAPTURE(N, C);
    Pair inp(env.gpu.get(), Randn(size_t(N) * C, 10, 2.0f));
    Pair w(env.gpu.get(), Randn(C, 11));
    Pair b(env.gpu.get(), Randn(C, 12));
    Pair out(env.gpu.get(), Nans(size_t(N) * C));
    Pair mean(env.gpu.get(), Nans(N));
    Pair rstd(env.gpu.get(), Nans(N));
    env.cpu->LayerNormForward(out.c, mean.c, rstd.c, inp.c, w.c, b.c, N, C);
    env.gpu->LayerNormForward(out.g, mean.g, rstd.g, inp.g, w.g, b.g, N, C);
    ExpectClose("out", out, kFp32);
    ExpectClose("mean", mean, kFp32);
    ExpectClose("rstd", rstd, kFp32);

    Pair dout(env.gpu.get(), Randn(size_t(N) * C, 13));
    Pair dinp(env.gpu.get(), Randn(size_t(N) * C, 14));
    Pair dw(env.gpu.get(), Randn(C, 15));
    Pair db(env.gpu.get(), Randn(C, 16));
    env.cpu->LayerNormBackward(dinp.c, dw.c, db.c, dout.c, inp.c, w.c, mean.c,
                               rstd.c, N, C);
    env.gpu->LayerNormBackward(dinp.g, dw.g, db.g, dout.g, inp.g, w.g, mean.g,
                               rstd.g, N, C);
    ExpectClose("dinp", dinp, kReduce);
    ExpectClose("dweight", dw, kReduce);
    ExpectClose("dbias", db, kReduce);
  }
}

void CheckMatmul(Backend* gpu, int N, int C, int OC, bool bias, bool tf32) {
  CAPTURE(N, C, OC, bias, tf32);
  Env& env = GetEnv();
  Pair inp(gpu, Randn(size_t(N) * C, 20));
  Pair w(gpu, Randn(size_t(OC) * C, 21, 0.05f));
  Pair b(gpu, Randn(OC, 22));
  Pair out(gpu, Nans(size_t(N) * OC));
  env.cpu->MatmulForward(out.c, inp.c, w.c, bias ? b.c : nullptr, N, C, OC);
  gpu->MatmulForward(out.g, inp.g, w.g, bias ? b.g : nullptr, N, C, OC);
  Pair dout(gpu, Randn(size_t(N) * OC, 23));
  Pair dinp(gpu, Randn(size_t(N) * C, 24));
  Pair dw(gpu, Randn(size_t(OC) * C, 25));
  Pair db(gpu, Randn(OC, 26));
  env.cpu->MatmulBackward(dinp.c, dw.c, bias ? db.c : nullptr, dout.c, inp.c,
                          w.c, N, C, OC);
  gpu->MatmulBackward(dinp.g, dw.g, bias ? db.g : nullptr, dout.g, inp.g, w.g,
                      N, C, OC);
  if (tf32) {
    ExpectNormClose("out", out, kTf32);
    ExpectNormClose("dinp", dinp, kTf32);
    ExpectNormClose("dweight", dw, kTf32);
  } else {
    ExpectClose("out", out, kFp32);
    ExpectClose("dinp", dinp, kFp32);
    ExpectClose("dweight", dw, kReduce);
  }
  ExpectClose("dbias", db, kReduce);  // a plain fp32 sum in both modes
}

TEST_CASE("matmul forward and backward, fp32 and tf32") {
  SKIP_WITHOUT_GPU();
  struct Shape {
    int N, C, OC;
  };
  for (Shape s : {Shape{1, 1, 1}, Shape{7, 13, 5}, Shape{64, 128, 96},
                  Shape{100, 333, 50}, Shape{257, 768, 2304}}) {
    for (bool bias : {false, true}) {
      CheckMatmul(GetEnv().gpu.get(), s.N, s.C, s.OC, bias, false);
      CheckMatmul(GetEnv().tf32.get(), s.N, s.C, s.OC, bias, true);
    }
  }
}

void CheckAttention(Backend* gpu, int B, int T, int C, int NH, bool tf32) {
  CAPTURE(B, T, C, NH, tf32);
  Env& env = GetEnv();
  const size_t btc = size_t(B) * T * C, att_n = size_t(B) * NH * T * T;
  Pair qkv(gpu, Randn(3 * btc, 30));
  Pair out(gpu, Nans(btc));
  Pair att(gpu, Nans(att_n));
  env.cpu->AttentionForward(out.c, att.c, qkv.c, B, T, C, NH);
  gpu->AttentionForward(out.g, att.g, qkv.g, B, T, C, NH);
  Pair dout(gpu, Randn(btc, 31));
  Pair dqkv(gpu, Randn(3 * btc, 32));
  Pair datt(gpu, Nans(att_n));
  env.cpu->AttentionBackward(dqkv.c, datt.c, dout.c, qkv.c, att.c, B, T, C, NH);
  gpu->AttentionBackward(dqkv.g, datt.g, dout.g, qkv.g, att.g, B, T, C, NH);
  if (tf32) {
    ExpectNormClose("att", att, kTf32);
    ExpectNormClose("out", out, kTf32);
    ExpectNormClose("dqkv", dqkv, kTf32Chain);
  } else {
    ExpectClose("att", att, kReduce);
    ExpectClose("out", out, kReduce);
    ExpectClose("dqkv", dqkv, kReduce);
  }
}

TEST_CASE("attention forward and backward, fp32 and tf32") {
  SKIP_WITHOUT_GPU();
  struct Shape {
    int B, T, C, NH;
  };
  for (Shape s : {Shape{1, 1, 8, 2}, Shape{2, 7, 12, 3}, Shape{2, 64, 64, 4},
                  Shape{1, 129, 96, 2}, Shape{2, 256, 768, 12}}) {
    CheckAttention(GetEnv().gpu.get(), s.B, s.T, s.C, s.NH, false);
    CheckAttention(GetEnv().tf32.get(), s.B, s.T, s.C, s.NH, true);
  }
}

TEST_CASE("gelu, residual and scale") {
  SKIP_WITHOUT_GPU();
  Env& env = GetEnv();
  for (size_t n : {size_t{1}, size_t{255}, size_t{257}, size_t{100003}}) {
    CAPTURE(n);
    Backend* g = env.gpu.get();
    Pair x(g, Randn(n, 40, 2.0f)), y(g, Randn(n, 41)), out(g, Nans(n));
    env.cpu->GeluForward(out.c, x.c, n);
    g->GeluForward(out.g, x.g, n);
    ExpectClose("gelu", out, kFp32);
    Pair dinp(g, Randn(n, 42));
    env.cpu->GeluBackward(dinp.c, x.c, y.c, n);
    g->GeluBackward(dinp.g, x.g, y.g, n);
    ExpectClose("gelu backward", dinp, kFp32);

    out.Set(Nans(n));
    env.cpu->ResidualForward(out.c, x.c, y.c, n);
    g->ResidualForward(out.g, x.g, y.g, n);
    ExpectClose("residual", out, kExact);
    Pair da(g, Randn(n, 43)), db(g, Randn(n, 44));
    env.cpu->ResidualBackward(da.c, db.c, y.c, n);
    g->ResidualBackward(da.g, db.g, y.g, n);
    ExpectClose("residual da", da, kExact);
    ExpectClose("residual db", db, kExact);

    env.cpu->Scale(x.c, 0.37f, n);
    g->Scale(x.g, 0.37f, n);
    ExpectClose("scale", x, kExact);
  }
}

TEST_CASE("sum of squares") {
  SKIP_WITHOUT_GPU();
  Env& env = GetEnv();
  for (size_t n : {size_t{1}, size_t{1000}, size_t{4097}, size_t{3000017}}) {
    CAPTURE(n);
    Pair x(env.gpu.get(), Randn(n, 50));
    const double c = env.cpu->SumSquares(x.c, n);
    const double g = env.gpu->SumSquares(x.g, n);
    CHECK(std::fabs(g - c) <= 1e-6 * c);
    CHECK(env.gpu->SumSquares(x.g, n) == g);  // deterministic
  }
}

TEST_CASE("fused softmax cross-entropy") {
  SKIP_WITHOUT_GPU();
  Env& env = GetEnv();
  struct Shape {
    int B, T, V, Vp;
  };
  for (Shape s : {Shape{1, 1, 3, 128}, Shape{2, 5, 100, 128},
                  Shape{2, 33, 1000, 1024}, Shape{1, 4, 50257, 50304}}) {
    CAPTURE(s.B, s.T, s.V, s.Vp);
    Backend* g = env.gpu.get();
    const size_t N = size_t(s.B) * s.T, n = N * s.Vp;
    const float dloss = 1.0f / N;
    // Padding columns hold garbage that must be ignored.
    const std::vector<float> logits_init = Randn(n, 60, 3.0f);
    Pair logits(g, logits_init);
    IntPair targets(g, RandInts(N, s.V, 61));
    Pair losses(g, Nans(N));
    env.cpu->SoftmaxCrossEntropy(losses.c, nullptr, logits.c, targets.c, s.B,
                                 s.T, s.V, s.Vp, dloss);
    g->SoftmaxCrossEntropy(losses.g, nullptr, logits.g, targets.g, s.B, s.T,
                           s.V, s.Vp, dloss);
    ExpectClose("losses (no dlogits)", losses, kFp32);

    Pair dlogits(g, Nans(n));
    losses.Set(Nans(N));
    env.cpu->SoftmaxCrossEntropy(losses.c, dlogits.c, logits.c, targets.c, s.B,
                                 s.T, s.V, s.Vp, dloss);
    g->SoftmaxCrossEntropy(losses.g, dlogits.g, logits.g, targets.g, s.B, s.T,
                           s.V, s.Vp, dloss);
    ExpectClose("losses", losses, kFp32);
    ExpectClose("dlogits", dlogits, kFp32);

    // In place: dlogits overwrite the logits.
    losses.Set(Nans(N));
    env.cpu->SoftmaxCrossEntropy(losses.c, logits.c, logits.c, targets.c, s.B,
                                 s.T, s.V, s.Vp, dloss);
    g->SoftmaxCrossEntropy(losses.g, logits.g, logits.g, targets.g, s.B, s.T,
                           s.V, s.Vp, dloss);
    ExpectClose("losses (in place)", losses, kFp32);
    ExpectClose("dlogits (in place)", logits, kFp32);
  }
}

TEST_CASE("dense-model ops: activations, MSE, hinge, small cross-entropy") {
  SKIP_WITHOUT_GPU();
  Env& env = GetEnv();
  Backend* g = env.gpu.get();
  for (Activation act :
       {Activation::kRelu, Activation::kSigmoid, Activation::kTanh}) {
    for (size_t n : {size_t{1}, size_t{257}, size_t{100003}}) {
      CAPTURE(static_cast<int>(act), n);
      Pair x(g, Randn(n, 70, 2.0f)), out(g, Nans(n)), dout(g, Randn(n, 71));
      env.cpu->ActivationForward(act, out.c, x.c, n);
      g->ActivationForward(act, out.g, x.g, n);
      ExpectClose("activation", out, kFp32);
      Pair dinp(g, Randn(n, 72));
      env.cpu->ActivationBackward(act, dinp.c, out.c, dout.c, n);
      g->ActivationBackward(act, dinp.g, out.g, dout.g, n);
      ExpectClose("activation backward", dinp, kFp32);
    }
  }
  for (int K : {1, 2, 3, 10}) {
    for (int N : {1, 33, 1000}) {
      CAPTURE(K, N);
      const size_t n = size_t(N) * K;
      const float dloss = 1.0f / N;
      Pair pred(g, Randn(n, 73)), target(g, Randn(n, 74));
      Pair losses(g, Nans(N)), dpred(g, Nans(n));
      env.cpu->MseLoss(losses.c, dpred.c, pred.c, target.c, N, K, dloss);
      g->MseLoss(losses.g, dpred.g, pred.g, target.g, N, K, dloss);
      ExpectClose("mse", losses, kFp32);
      ExpectClose("mse dpred", dpred, kFp32);
      if (K < 2) continue;
      IntPair labels(g, RandInts(N, K, 75));
      losses.Set(Nans(N));
      env.cpu->HingeLoss(losses.c, dpred.c, pred.c, labels.c, N, K, dloss);
      g->HingeLoss(losses.g, dpred.g, pred.g, labels.g, N, K, dloss);
      ExpectClose("hinge", losses, kFp32);
      ExpectClose("hinge dscores", dpred, kExact);
      losses.Set(Nans(N));
      env.cpu->SoftmaxCrossEntropy(losses.c, dpred.c, pred.c, labels.c, N, 1, K,
                                   K, dloss);
      g->SoftmaxCrossEntropy(losses.g, dpred.g, pred.g, labels.g, N, 1, K, K,
                             dloss);
      ExpectClose("cross-entropy K outputs", losses, kFp32);
      ExpectClose("cross-entropy dlogits", dpred, kFp32);
    }
  }
}

}  // namespace
}  // namespace testing
}  // namespace pserve
