// ProfilingBackend: a Backend decorator for ps_bench that adds the wall time
// of every compute op to a per-op total, to show where a training step goes.
// Thread-safety: none; like the Backend it wraps, one thread of control uses
// it at a time (ops the inner backend runs on its own threads are fine).
#ifndef PSERVE_TOOLS_PROFILING_BACKEND_H_
#define PSERVE_TOOLS_PROFILING_BACKEND_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/ops.h"

namespace pserve {

// Forwards every op to `inner` (borrowed; must outlive this) and adds its
// wall time to a per-op total. Only compute ops are timed; memory ops just
// forward.
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
  void ActivationForward(Activation act, float* out, const float* inp,
                         size_t N) override {
    Timed("ActivationForward",
          [&] { inner_->ActivationForward(act, out, inp, N); });
  }
  void ActivationBackward(Activation act, float* dinp, const float* out,
                          const float* dout, size_t N) override {
    Timed("ActivationBackward",
          [&] { inner_->ActivationBackward(act, dinp, out, dout, N); });
  }
  void MseLoss(float* losses, float* dpred, const float* pred,
               const float* target, int N, int K, float dloss) override {
    Timed("MseLoss",
          [&] { inner_->MseLoss(losses, dpred, pred, target, N, K, dloss); });
  }
  void HingeLoss(float* losses, float* dscores, const float* scores,
                 const int32_t* labels, int N, int K, float dloss) override {
    Timed("HingeLoss", [&] {
      inner_->HingeLoss(losses, dscores, scores, labels, N, K, dloss);
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

  // Forgets the totals so far (those of the warmup steps).
  void Reset() { totals_.clear(); }
  // Prints milliseconds per step of each op, largest first.
  void Print(int steps) const;

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
  std::map<std::string, double> totals_;  // op name -> seconds
};

}  // namespace pserve

#endif  // PSERVE_TOOLS_PROFILING_BACKEND_H_
