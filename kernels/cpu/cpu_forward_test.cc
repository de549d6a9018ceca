// Forward checks of the CPU backend against naive double-precision loops:
// matmul, attention, layernorm, softmax cross-entropy (padding included),
// encoder, GELU, residual, SumSquares and Scale. Float results must agree
// with the double reference to 1e-5 absolute + 1e-4 relative (2e-4 for
// GEMM-based ops, whose float sums run over up to a few hundred terms).
#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "kernels/cpu/cpu_test_util.h"
#include "kernels/ops.h"

namespace pserve {
namespace {

using testing::Buf;
using testing::FillRandom;
using testing::FillTokens;
using testing::IntBuf;

// Checks got[i] against want[i] with |got - want| <= atol + rtol * |want|.
void ExpectNear(const char* name, const float* got,
                const std::vector<double>& want, double atol, double rtol) {
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::fabs(got[i] - want[i]) > atol + rtol * std::fabs(want[i])) {
      INFO(name << "[" << i << "] = " << got[i] << ", want " << want[i]);
      REQUIRE(false);
    }
  }
}

void CheckMatmul(int n, int c, int oc, bool with_bias) {
  auto be = MakeCpuBackend(2);
  Buf out(be.get(), n * oc), inp(be.get(), n * c), w(be.get(), oc * c);
  Buf bias(be.get(), oc);
  FillRandom(inp, 1);
  FillRandom(w, 2);
  FillRandom(bias, 3);
  be->MatmulForward(out.data(), inp.data(), w.data(),
                    with_bias ? bias.data() : nullptr, n, c, oc);
  std::vector<double> want(n * oc);
  for (int i = 0; i < n; ++i) {
    for (int o = 0; o < oc; ++o) {
      double s = with_bias ? bias[o] : 0.0;
      for (int k = 0; k < c; ++k) s += double(inp[i * c + k]) * w[o * c + k];
      want[i * oc + o] = s;
    }
  }
  ExpectNear("matmul out", out.data(), want, 1e-5, 2e-4);
}

TEST_CASE("MatmulForward matches naive loops", "[forward]") {
  CheckMatmul(10, 8, 12, true);
  CheckMatmul(37, 29, 53, true);
  CheckMatmul(37, 29, 53, false);
  CheckMatmul(256, 192, 320, true);
}

// Naive llm.c attention in double: out (B,T,C), att (B,NH,T,T).
void NaiveAttention(std::vector<double>* out, std::vector<double>* att,
                    const float* qkv, int B, int T, int C, int NH) {
  const int hs = C / NH;
  const double scale = 1.0 / std::sqrt(double(hs));
  out->assign(size_t(B) * T * C, 0.0);
  att->assign(size_t(B) * NH * T * T, 0.0);
  for (int b = 0; b < B; ++b) {
    for (int h = 0; h < NH; ++h) {
      for (int t = 0; t < T; ++t) {
        const float* q = qkv + (size_t(b) * T + t) * 3 * C + h * hs;
        double* a = att->data() + ((size_t(b) * NH + h) * T + t) * T;
        double max = -1e300, sum = 0.0;
        for (int u = 0; u <= t; ++u) {
          const float* k = qkv + (size_t(b) * T + u) * 3 * C + C + h * hs;
          double s = 0.0;
          for (int i = 0; i < hs; ++i) s += double(q[i]) * k[i];
          a[u] = s * scale;
          max = std::max(max, a[u]);
        }
        for (int u = 0; u <= t; ++u) sum += (a[u] = std::exp(a[u] - max));
        double* o = out->data() + (size_t(b) * T + t) * C + h * hs;
        for (int u = 0; u <= t; ++u) {
          a[u] /= sum;
          const float* v = qkv + (size_t(b) * T + u) * 3 * C + 2 * C + h * hs;
          for (int i = 0; i < hs; ++i) o[i] += a[u] * v[i];
        }
      }
    }
  }
}

void CheckAttention(int B, int T, int C, int NH) {
  auto be = MakeCpuBackend(2);
  Buf qkv(be.get(), B * T * 3 * C), out(be.get(), B * T * C);
  Buf att(be.get(), B * NH * T * T);
  FillRandom(qkv, 4, -2.0f, 2.0f);
  for (size_t i = 0; i < att.size(); ++i) att[i] = 5.0f;  // overwritten
  be->AttentionForward(out.data(), att.data(), qkv.data(), B, T, C, NH);
  std::vector<double> want_out, want_att;
  NaiveAttention(&want_out, &want_att, qkv.data(), B, T, C, NH);
  ExpectNear("attention out", out.data(), want_out, 1e-5, 2e-4);
  ExpectNear("attention att", att.data(), want_att, 1e-6, 2e-4);
  for (int row = 0; row < B * NH * T; ++row) {
    const int t = row % T;
    for (int u = t + 1; u < T; ++u) REQUIRE(att[size_t(row) * T + u] == 0.0f);
  }
}

TEST_CASE("AttentionForward matches naive loops", "[forward]") {
  CheckAttention(2, 5, 8, 2);
  CheckAttention(2, 150, 32, 4);  // several 64-row blocks and a partial one
}

TEST_CASE("LayerNormForward matches naive loops", "[forward]") {
  constexpr int N = 37, C = 40;
  auto be = MakeCpuBackend(2);
  Buf out(be.get(), N * C), mean(be.get(), N), rstd(be.get(), N);
  Buf inp(be.get(), N * C), w(be.get(), C), bias(be.get(), C);
  FillRandom(inp, 5, -3.0f, 5.0f);
  FillRandom(w, 6);
  FillRandom(bias, 7);
  be->LayerNormForward(out.data(), mean.data(), rstd.data(), inp.data(),
                       w.data(), bias.data(), N, C);
  std::vector<double> want_out(N * C), want_mean(N), want_rstd(N);
  for (int n = 0; n < N; ++n) {
    const float* x = inp.data() + n * C;
    double m = 0.0, v = 0.0;
    for (int c = 0; c < C; ++c) m += x[c];
    m /= C;
    for (int c = 0; c < C; ++c) v += (x[c] - m) * (x[c] - m);
    const double r = 1.0 / std::sqrt(v / C + 1e-5);
    for (int c = 0; c < C; ++c) {
      want_out[n * C + c] = (x[c] - m) * r * w[c] + bias[c];
    }
    want_mean[n] = m;
    want_rstd[n] = r;
  }
  ExpectNear("layernorm out", out.data(), want_out, 1e-5, 1e-4);
  ExpectNear("layernorm mean", mean.data(), want_mean, 1e-5, 1e-4);
  ExpectNear("layernorm rstd", rstd.data(), want_rstd, 1e-5, 1e-4);
}

TEST_CASE("SoftmaxCrossEntropy matches naive loops", "[forward]") {
  constexpr int B = 3, T = 7, V = 50, Vp = 64;
  constexpr float dloss = 1.0f / (B * T);
  auto be = MakeCpuBackend(2);
  Buf logits(be.get(), B * T * Vp), losses(be.get(), B * T);
  Buf dlogits(be.get(), B * T * Vp), losses2(be.get(), B * T);
  IntBuf targets(be.get(), B * T);
  FillRandom(logits, 8, -6.0f, 6.0f);
  FillTokens(targets, B * T, V, 9);
  for (int i = 0; i < B * T; ++i) logits[i * Vp + V] = 100.0f;  // padding
  for (size_t i = 0; i < dlogits.size(); ++i) dlogits[i] = -3.0f;
  be->SoftmaxCrossEntropy(losses.data(), dlogits.data(), logits.data(),
                          targets.data(), B, T, V, Vp, dloss);
  std::vector<double> want_loss(B * T), want_d(B * T * Vp, 0.0);
  for (int r = 0; r < B * T; ++r) {
    const float* x = logits.data() + r * Vp;
    double max = x[0], sum = 0.0;
    for (int j = 0; j < V; ++j) max = std::max(max, double(x[j]));
    for (int j = 0; j < V; ++j) sum += std::exp(x[j] - max);
    want_loss[r] = -(x[targets[r]] - max - std::log(sum));
    for (int j = 0; j < V; ++j) {
      want_d[r * Vp + j] =
          (std::exp(x[j] - max) / sum - (j == targets[r])) * dloss;
    }
  }
  ExpectNear("losses", losses.data(), want_loss, 1e-5, 1e-5);
  ExpectNear("dlogits", dlogits.data(), want_d, 1e-7, 1e-4);
  for (int r = 0; r < B * T; ++r) {
    for (int j = V; j < Vp; ++j) REQUIRE(dlogits[r * Vp + j] == 0.0f);
  }
  // Without dlogits only the losses are computed.
  be->SoftmaxCrossEntropy(losses2.data(), nullptr, logits.data(),
                          targets.data(), B, T, V, Vp, dloss);
  REQUIRE(losses2.Get() == losses.Get());
}

TEST_CASE("Encoder, GELU and residual match naive loops", "[forward]") {
  constexpr int B = 2, T = 9, C = 24, V = 30, N = B * T * C;
  auto be = MakeCpuBackend(2);
  Buf out(be.get(), N), wte(be.get(), V * C), wpe(be.get(), T * C);
  Buf a(be.get(), N), b(be.get(), N);
  IntBuf inp(be.get(), B * T);
  FillTokens(inp, B * T, V, 10);
  FillRandom(wte, 11);
  FillRandom(wpe, 12);
  FillRandom(a, 13, -6.0f, 6.0f);
  FillRandom(b, 14);
  be->EncoderForward(out.data(), inp.data(), wte.data(), wpe.data(), B, T, C);
  std::vector<double> want(N);
  for (int i = 0; i < N; ++i) {
    const int bt = i / C, c = i % C;
    want[i] = double(wte[inp[bt] * C + c]) + wpe[(bt % T) * C + c];
  }
  ExpectNear("encoder", out.data(), want, 0.0, 1e-7);
  be->GeluForward(out.data(), a.data(), N);
  for (int i = 0; i < N; ++i) {
    const double x = a[i];
    want[i] =
        0.5 * x *
        (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
  }
  ExpectNear("gelu", out.data(), want, 1e-6, 1e-5);
  be->ResidualForward(out.data(), a.data(), b.data(), N);
  for (int i = 0; i < N; ++i) want[i] = double(a[i]) + b[i];
  ExpectNear("residual", out.data(), want, 0.0, 1e-7);
}

TEST_CASE("SumSquares and Scale match naive loops", "[forward]") {
  constexpr size_t n = 100003;  // several blocks and a ragged tail
  auto be = MakeCpuBackend(2);
  Buf x(be.get(), n);
  FillRandom(x, 15);
  double want = 0.0;
  for (size_t i = 0; i < n; ++i) want += double(x[i]) * x[i];
  REQUIRE(be->SumSquares(x.data(), n) == Approx(want).epsilon(1e-12));
  REQUIRE(be->SumSquares(x.data(), 0) == 0.0);
  const std::vector<float> before = x.Get();
  be->Scale(x.data(), -0.5f, n);
  for (size_t i = 0; i < n; ++i) REQUIRE(x[i] == before[i] * -0.5f);
}

}  // namespace
}  // namespace pserve
