// Benchmark of the CPU backend's matmul: forward and backward GFLOP/s at
// N = C = OC = 1024, and at the shapes of a small GPT-2 training step.
// Usage: cpu_ops_bench [threads]  (default 2; 0 = all cores); the GEMM
// kernel is the CPU's best unless PSERVE_GEMM_ISA=eigen|avx2|avx512.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>

#include "kernels/cpu/cpu_gemm.h"
#include "kernels/ops.h"

namespace pserve {
namespace {

using Clock = std::chrono::steady_clock;

// Best seconds per call of fn over `reps` timed calls after one warm-up.
template <typename Fn>
double BestSeconds(int reps, Fn&& fn) {
  fn();
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto start = Clock::now();
    fn();
    best = std::min(
        best, std::chrono::duration<double>(Clock::now() - start).count());
  }
  return best;
}

void FillRandom(float* p, size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (size_t i = 0; i < n; ++i) p[i] = dist(gen);
}

// Prints forward and backward GFLOP/s of out (N,OC) = inp (N,C) @ w^T + b.
void BenchMatmul(Backend* be, int N, int C, int OC, int reps) {
  float* inp = be->Alloc(size_t(N) * C);
  float* w = be->Alloc(size_t(OC) * C);
  float* bias = be->Alloc(OC);
  float* out = be->Alloc(size_t(N) * OC);
  float* dinp = be->Alloc(size_t(N) * C);
  float* dw = be->Alloc(size_t(OC) * C);
  float* db = be->Alloc(OC);
  FillRandom(inp, size_t(N) * C, 1);
  FillRandom(w, size_t(OC) * C, 2);
  FillRandom(out, size_t(N) * OC, 3);
  const double fwd = BestSeconds(
      reps, [&] { be->MatmulForward(out, inp, w, bias, N, C, OC); });
  const double bwd = BestSeconds(
      reps, [&] { be->MatmulBackward(dinp, dw, db, out, inp, w, N, C, OC); });
  const double flops = 2.0 * N * C * OC;
  std::printf(
      "matmul N=%-5d C=%-5d OC=%-5d forward %7.1f GFLOP/s (%7.3f ms)"
      "  backward %7.1f GFLOP/s (%7.3f ms)\n",
      N, C, OC, flops / fwd * 1e-9, fwd * 1e3, 2 * flops / bwd * 1e-9,
      bwd * 1e3);
  for (float* p : {inp, w, bias, out, dinp, dw, db}) be->Free(p);
}

// Prints the time of attention forward and backward at (B, T, C, NH).
void BenchAttention(Backend* be, int B, int T, int C, int NH, int reps) {
  const size_t n_qkv = size_t(B) * T * 3 * C, n_att = size_t(B) * NH * T * T;
  float* qkv = be->Alloc(n_qkv);
  float* dqkv = be->Alloc(n_qkv);
  float* out = be->Alloc(size_t(B) * T * C);
  float* att = be->Alloc(n_att);
  float* datt = be->Alloc(n_att);
  FillRandom(qkv, n_qkv, 4);
  FillRandom(out, size_t(B) * T * C, 5);
  const double fwd = BestSeconds(
      reps, [&] { be->AttentionForward(out, att, qkv, B, T, C, NH); });
  const double bwd = BestSeconds(reps, [&] {
    be->AttentionBackward(dqkv, datt, out, qkv, att, B, T, C, NH);
  });
  std::printf(
      "attention B=%d T=%d C=%d NH=%d forward %7.3f ms  backward "
      "%7.3f ms\n",
      B, T, C, NH, fwd * 1e3, bwd * 1e3);
  for (float* p : {qkv, dqkv, out, att, datt}) be->Free(p);
}

// Prints the times of the row-wise ops of one layer at N rows of width C.
void BenchRowOps(Backend* be, int N, int C, int Vp, int reps) {
  const size_t nc = size_t(N) * C, big = 4 * nc, nv = size_t(N) * Vp;
  float* x = be->Alloc(big);
  float* y = be->Alloc(big);
  float* dx = be->Alloc(big);
  float* w = be->Alloc(C);
  float* dw = be->Alloc(2 * size_t(C));
  float* stats = be->Alloc(2 * size_t(N));
  float* logits = be->Alloc(nv);
  float* dlogits = be->Alloc(nv);
  int32_t* targets = be->AllocInt(N);
  FillRandom(x, big, 6);
  FillRandom(logits, nv, 7);
  const double ln_f = BestSeconds(
      reps, [&] { be->LayerNormForward(y, stats, stats + N, x, w, dw, N, C); });
  const double ln_b = BestSeconds(reps, [&] {
    be->LayerNormBackward(dx, dw, dw + C, y, x, w, stats, stats + N, N, C);
  });
  const double gelu_f = BestSeconds(reps, [&] { be->GeluForward(y, x, big); });
  const double gelu_b =
      BestSeconds(reps, [&] { be->GeluBackward(dx, x, y, big); });
  const double ce = BestSeconds(reps, [&] {
    be->SoftmaxCrossEntropy(stats, dlogits, logits, targets, 1, N, Vp, Vp,
                            1.0f / N);
  });
  std::printf(
      "rows N=%d C=%d: layernorm %.3f/%.3f ms, gelu (N,4C) "
      "%.3f/%.3f ms (forward/backward), softmax-CE Vp=%d %.3f ms\n",
      N, C, ln_f * 1e3, ln_b * 1e3, gelu_f * 1e3, gelu_b * 1e3, Vp, ce * 1e3);
  for (void* p :
       {static_cast<void*>(x), static_cast<void*>(y), static_cast<void*>(dx),
        static_cast<void*>(w), static_cast<void*>(dw),
        static_cast<void*>(stats), static_cast<void*>(logits),
        static_cast<void*>(dlogits), static_cast<void*>(targets)}) {
    be->Free(p);
  }
}

}  // namespace
}  // namespace pserve

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  auto be = pserve::MakeCpuBackend(threads);
  std::printf("cpu backend, %d threads (0 = all cores), %s GEMM kernel\n",
              threads, pserve::cpu::GemmIsaName(pserve::cpu::BestGemmIsa()));
  pserve::BenchMatmul(be.get(), 1024, 1024, 1024, 10);
  // A GPT-2 step at B=8, T=256, C=256/512: qkv, fc, fc-proj, lm head.
  for (int c : {256, 512}) {
    pserve::BenchMatmul(be.get(), 2048, c, 3 * c, 5);
    pserve::BenchMatmul(be.get(), 2048, c, 4 * c, 5);
    pserve::BenchMatmul(be.get(), 2048, 4 * c, c, 5);
    pserve::BenchMatmul(be.get(), 2048, c, 256, 5);
    pserve::BenchAttention(be.get(), 8, 256, c, c / 64, 5);
    pserve::BenchRowOps(be.get(), 2048, c, 256, 5);
  }
  return 0;
}
