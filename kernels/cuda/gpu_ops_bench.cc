// GPU benchmark of the CUDA backend: matmul TFLOP/s at GPT-2 124M shapes and
// a GPT-2 124M forward+backward step through the ops (tokens/s and MFU with
// llm.c's 6N + 6LCT flops per token over the card's peak), fp32 and TF32.
// Prints a SKIPPED line and exits 0 without a GPU. Lines starting with
// "SUMMARY" are collected by tools/gpu_check.sh. Thread-safety: one thread.
//
// Usage: gpu_ops_bench [--steps=N]   (timed steps per configuration)
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kernels/ops.h"
#ifdef PSERVE_WITH_CUDA
#include "kernels/cuda/cuda_info.h"
#endif

namespace pserve {
namespace {

// GPT-2 124M.
constexpr int kL = 12, kC = 768, kNH = 12, kV = 50257, kVp = 50304,
              kMaxT = 1024;

struct Peak {
  double fp32 = 0, tf32 = 0;  // dense TFLOP/s; 0 if unknown
};

Peak LookupPeak(const std::string& name) {
  auto has = [&](const char* s) { return name.find(s) != std::string::npos; };
  if (has("H100") || has("H200")) {
    if (has("PCIe")) return {51, 378};
    if (has("NVL")) return {60, 418};
    return {67, 495};  // SXM
  }
  if (has("A100")) return {19.5, 156};
  return {};
}

double Seconds(Backend* b, int iters, const std::function<void()>& fn) {
  fn();  // warm-up (cuBLAS heuristics, caches)
  b->Synchronize();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) fn();
  b->Synchronize();
  const std::chrono::duration<double> d = std::chrono::steady_clock::now() - t0;
  return d.count() / iters;
}

// Fills n floats with a cheap deterministic uniform in [-scale, scale].
void FillHost(std::vector<float>& v, uint32_t seed, float scale) {
  uint32_t x = seed * 2654435761u + 1;
  for (float& f : v) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    f = scale * (static_cast<float>(x) / 2147483648.0f - 1.0f);
  }
}

struct Tensor {
  float* p = nullptr;
  size_t n = 0;
};

// Owns every buffer it hands out.
class Pool {
 public:
  explicit Pool(Backend* b) : b_(b) {}
  ~Pool() {
    for (void* p : all_) b_->Free(p);
  }
  Tensor Get(size_t n) {
    Tensor t{b_->Alloc(n), n};
    all_.push_back(t.p);
    return t;
  }
  int32_t* Ints(size_t n) {
    int32_t* p = b_->AllocInt(n);
    all_.push_back(p);
    return p;
  }

 private:
  Backend* b_;
  std::vector<void*> all_;
};

void MatmulBench(Backend* b, const char* mode, double peak) {
  struct Shape {
    const char* name;
    int C, OC;
  };
  const int N = 8 * kMaxT;
  std::printf("\nmatmul, %s, N = B*T = %d (TFLOP/s; %% of %.0f peak)\n", mode,
              N, peak);
  std::printf("%-10s %6s %6s %12s %12s\n", "layer", "C", "OC", "forward",
              "backward");
  for (Shape s : {Shape{"qkv", kC, 3 * kC}, Shape{"attproj", kC, kC},
                  Shape{"fc", kC, 4 * kC}, Shape{"fcproj", 4 * kC, kC},
                  Shape{"lm_head", kC, kVp}}) {
    Pool pool(b);
    Tensor inp = pool.Get(size_t(N) * s.C), w = pool.Get(size_t(s.OC) * s.C);
    Tensor bias = pool.Get(s.OC), out = pool.Get(size_t(N) * s.OC);
    Tensor dinp = pool.Get(size_t(N) * s.C), dw = pool.Get(size_t(s.OC) * s.C);
    Tensor dbias = pool.Get(s.OC);
    const double flops = 2.0 * N * s.C * s.OC;
    const double fwd = Seconds(b, 10, [&] {
      b->MatmulForward(out.p, inp.p, w.p, bias.p, N, s.C, s.OC);
    });
    const double bwd = Seconds(b, 10, [&] {
      b->MatmulBackward(dinp.p, dw.p, dbias.p, out.p, inp.p, w.p, N, s.C, s.OC);
    });
    const double tf = flops / fwd / 1e12, tb = 2 * flops / bwd / 1e12;
    std::printf("%-10s %6d %6d %7.1f (%2.0f%%) %7.1f (%2.0f%%)\n", s.name, s.C,
                s.OC, tf, peak > 0 ? 100 * tf / peak : 0.0, tb,
                peak > 0 ? 100 * tb / peak : 0.0);
    std::printf("SUMMARY matmul_%s_%s_fwd_tflops %.1f\n", s.name, mode, tf);
  }
}

// One GPT-2 124M training step (forward, loss, backward; no optimizer).
void StepBench(Backend* b, const char* mode, double peak, int B, int steps) {
  const int T = kMaxT, C = kC, L = kL, N = B * T;
  const size_t NC = size_t(N) * C;
  Pool pool(b);
  // Parameters and their gradients, llm.c's order and shapes.
  const size_t sizes[] = {size_t(kVp) * C,
                          size_t(T) * C,
                          C,
                          C,
                          size_t(3 * C) * C,
                          3 * C,
                          size_t(C) * C,
                          C,
                          C,
                          C,
                          size_t(4 * C) * C,
                          4 * C,
                          size_t(C) * 4 * C,
                          C,
                          C,
                          C};
  size_t num_params = sizes[0] + sizes[1] + sizes[14] + sizes[15];
  for (int i = 2; i < 14; ++i) num_params += L * sizes[i];
  Tensor params = pool.Get(num_params), grads = pool.Get(num_params);
  {
    std::vector<float> h(num_params);
    FillHost(h, 1, 0.02f);
    b->CopyFromHost(params.p, h.data(), num_params);
  }
  float* cursor_p = params.p;
  float* cursor_g = grads.p;
  auto take = [&](size_t n, float** p, float** g) {
    *p = cursor_p;
    *g = cursor_g;
    cursor_p += n;
    cursor_g += n;
  };
  float *wte, *dwte, *wpe, *dwpe, *lnfw, *dlnfw, *lnfb, *dlnfb;
  take(sizes[0], &wte, &dwte);
  take(sizes[1], &wpe, &dwpe);
  // Per layer, the 12 tensors of sizes[2..13] in that order.
  enum {
    kLn1w,
    kLn1b,
    kQkvw,
    kQkvb,
    kApw,
    kApb,
    kLn2w,
    kLn2b,
    kFcw,
    kFcb,
    kFpw,
    kFpb,
    kLayerTensors
  };
  float* P[kL][kLayerTensors];
  float* G[kL][kLayerTensors];
  for (int l = 0; l < L; ++l) {
    for (int i = 0; i < kLayerTensors; ++i) {
      take(sizes[2 + i], &P[l][i], &G[l][i]);
    }
  }
  take(C, &lnfw, &dlnfw);
  take(C, &lnfb, &dlnfb);

  // Activations kept for backward, per layer.
  struct Acts {
    Tensor ln1, ln1m, ln1r, qkv, atty, att, ap, res2, ln2, ln2m, ln2r, fch,
        fchg, fp, res3;
  } A[kL];
  const size_t att_n = size_t(B) * kNH * T * T;
  for (int l = 0; l < L; ++l) {
    A[l] = {pool.Get(NC),     pool.Get(N),     pool.Get(N),  pool.Get(3 * NC),
            pool.Get(NC),     pool.Get(att_n), pool.Get(NC), pool.Get(NC),
            pool.Get(NC),     pool.Get(N),     pool.Get(N),  pool.Get(4 * NC),
            pool.Get(4 * NC), pool.Get(NC),    pool.Get(NC)};
  }
  Tensor enc = pool.Get(NC), lnf = pool.Get(NC), lnfm = pool.Get(N),
         lnfr = pool.Get(N), logits = pool.Get(size_t(N) * kVp),
         losses = pool.Get(N);
  // Activation-gradient scratch, reused by every layer.
  Tensor d_res = pool.Get(NC), d_res2 = pool.Get(NC), d_a = pool.Get(NC),
         d_b = pool.Get(NC), d_4c = pool.Get(4 * NC), d_4c2 = pool.Get(4 * NC),
         d_qkv = pool.Get(3 * NC), d_att = pool.Get(att_n);
  int32_t* inp = pool.Ints(N);
  int32_t* targets = pool.Ints(N);
  {
    std::vector<int32_t> h(N);
    for (int i = 0; i < N; ++i) h[i] = (i * 7919) % kV;
    b->CopyIntFromHost(inp, h.data(), N);
    for (int i = 0; i < N; ++i) h[i] = (i * 104729 + 1) % kV;
    b->CopyIntFromHost(targets, h.data(), N);
  }

  auto step = [&] {
    b->EncoderForward(enc.p, inp, wte, wpe, B, T, C);
    const float* res = enc.p;
    for (int l = 0; l < L; ++l) {
      Acts& a = A[l];
      b->LayerNormForward(a.ln1.p, a.ln1m.p, a.ln1r.p, res, P[l][kLn1w],
                          P[l][kLn1b], N, C);
      b->MatmulForward(a.qkv.p, a.ln1.p, P[l][kQkvw], P[l][kQkvb], N, C, 3 * C);
      b->AttentionForward(a.atty.p, a.att.p, a.qkv.p, B, T, C, kNH);
      b->MatmulForward(a.ap.p, a.atty.p, P[l][kApw], P[l][kApb], N, C, C);
      b->ResidualForward(a.res2.p, res, a.ap.p, NC);
      b->LayerNormForward(a.ln2.p, a.ln2m.p, a.ln2r.p, a.res2.p, P[l][kLn2w],
                          P[l][kLn2b], N, C);
      b->MatmulForward(a.fch.p, a.ln2.p, P[l][kFcw], P[l][kFcb], N, C, 4 * C);
      b->GeluForward(a.fchg.p, a.fch.p, 4 * NC);
      b->MatmulForward(a.fp.p, a.fchg.p, P[l][kFpw], P[l][kFpb], N, 4 * C, C);
      b->ResidualForward(a.res3.p, a.res2.p, a.fp.p, NC);
      res = a.res3.p;
    }
    b->LayerNormForward(lnf.p, lnfm.p, lnfr.p, res, lnfw, lnfb, N, C);
    b->MatmulForward(logits.p, lnf.p, wte, nullptr, N, C, kVp);
    b->SoftmaxCrossEntropy(losses.p, logits.p, logits.p, targets, B, T, kV, kVp,
                           1.0f / N);
    // Backward.
    b->Zero(grads.p, num_params);
    b->Zero(d_a.p, NC);
    b->MatmulBackward(d_a.p, dwte, nullptr, logits.p, lnf.p, wte, N, C, kVp);
    b->Zero(d_res.p, NC);
    b->LayerNormBackward(d_res.p, dlnfw, dlnfb, d_a.p, res, lnfw, lnfm.p,
                         lnfr.p, N, C);
    for (int l = L - 1; l >= 0; --l) {
      Acts& a = A[l];
      const float* res_in = l == 0 ? enc.p : A[l - 1].res3.p;
      b->Zero(d_res2.p, NC);
      b->Zero(d_a.p, NC);
      b->ResidualBackward(d_res2.p, d_a.p, d_res.p, NC);
      b->Zero(d_4c.p, 4 * NC);
      b->MatmulBackward(d_4c.p, G[l][kFpw], G[l][kFpb], d_a.p, a.fchg.p,
                        P[l][kFpw], N, 4 * C, C);
      b->Zero(d_4c2.p, 4 * NC);
      b->GeluBackward(d_4c2.p, a.fch.p, d_4c.p, 4 * NC);
      b->Zero(d_b.p, NC);
      b->MatmulBackward(d_b.p, G[l][kFcw], G[l][kFcb], d_4c2.p, a.ln2.p,
                        P[l][kFcw], N, C, 4 * C);
      b->LayerNormBackward(d_res2.p, G[l][kLn2w], G[l][kLn2b], d_b.p, a.res2.p,
                           P[l][kLn2w], a.ln2m.p, a.ln2r.p, N, C);
      b->Zero(d_res.p, NC);
      b->Zero(d_a.p, NC);
      b->ResidualBackward(d_res.p, d_a.p, d_res2.p, NC);
      b->Zero(d_b.p, NC);
      b->MatmulBackward(d_b.p, G[l][kApw], G[l][kApb], d_a.p, a.atty.p,
                        P[l][kApw], N, C, C);
      b->Zero(d_qkv.p, 3 * NC);
      b->AttentionBackward(d_qkv.p, d_att.p, d_b.p, a.qkv.p, a.att.p, B, T, C,
                           kNH);
      b->Zero(d_b.p, NC);
      b->MatmulBackward(d_b.p, G[l][kQkvw], G[l][kQkvb], d_qkv.p, a.ln1.p,
                        P[l][kQkvw], N, C, 3 * C);
      b->LayerNormBackward(d_res.p, G[l][kLn1w], G[l][kLn1b], d_b.p, res_in,
                           P[l][kLn1w], a.ln1m.p, a.ln1r.p, N, C);
    }
    b->EncoderBackward(dwte, dwpe, d_res.p, inp, B, T, C);
  };

  const double sec = Seconds(b, steps, step);
  std::vector<float> h(N);
  b->CopyToHost(h.data(), losses.p, N);
  double loss = 0;
  for (float x : h) loss += x;
  const double tok_s = N / sec;
  const double flops_per_token = 6.0 * num_params + 6.0 * L * C * T;
  const double mfu = peak > 0 ? flops_per_token * tok_s / (peak * 1e12) : 0;
  std::printf(
      "step %-4s B=%d T=%d: %8.1f ms  %9.0f tokens/s  MFU %5.1f%%  "
      "(loss %.3f, %zu params)\n",
      mode, B, T, sec * 1e3, tok_s, 100 * mfu, loss / N, num_params);
  std::printf("SUMMARY step_%s_B%d_tokens_per_s %.0f\n", mode, B, tok_s);
  std::printf("SUMMARY step_%s_B%d_mfu_pct %.1f\n", mode, B, 100 * mfu);
}

}  // namespace
}  // namespace pserve

int main(int argc, char** argv) {
  int steps = 5;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--steps=", 8) == 0) {
      steps = std::atoi(argv[i] + 8);
    } else {
      std::fprintf(stderr, "usage: %s [--steps=N]\n", argv[0]);
      return 2;
    }
  }
  auto fp32 = pserve::MakeCudaBackend(0, /*tf32=*/false);
  if (!fp32.ok()) {
    std::printf("SKIPPED: no CUDA GPU present (%s)\n",
                std::string(fp32.status().message()).c_str());
    return 0;
  }
  auto tf32 = pserve::MakeCudaBackend(0, /*tf32=*/true);
  if (!tf32.ok()) {
    std::printf("tf32 backend: %s\n", tf32.status().ToString().c_str());
    return 1;
  }
  std::string name = "unknown";
#ifdef PSERVE_WITH_CUDA
  name = pserve::CudaDeviceName(0);
#endif
  const pserve::Peak peak = pserve::LookupPeak(name);
  std::printf("device: %s (peak fp32 %.0f, tf32 %.0f TFLOP/s%s)\n",
              name.c_str(), peak.fp32, peak.tf32,
              peak.fp32 > 0 ? "" : "; unknown card, MFU not computed");
  std::printf("SUMMARY device %s\n", name.c_str());
  pserve::MatmulBench(fp32->get(), "fp32", peak.fp32);
  pserve::MatmulBench(tf32->get(), "tf32", peak.tf32);
  std::printf("\nGPT-2 124M step (forward + backward, no optimizer)\n");
  for (int B : {8, 4}) {
    pserve::StepBench(fp32->get(), "fp32", peak.fp32, B, steps);
    pserve::StepBench(tf32->get(), "tf32", peak.tf32, B, steps);
  }
  return 0;
}
