// The Eigen CPU backend: host memory management and dispatch of every
// Backend op (kernels/ops.h) to the kernels of cpu_kernels.h.
// Thread-safety: like every Backend, one caller thread at a time; ops use
// up to `threads` OpenMP threads internally and are deterministic for a
// fixed thread count.
#include <omp.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/ops.h"

namespace pserve {
namespace {

// Cache-line (and AVX-512) alignment of every buffer.
constexpr size_t kAlignment = 64;
// Below this many floats, memory ops run on one thread.
constexpr int64_t kMinParallelFloats = 1 << 16;

// The last-level cache size Eigen's GEMM blocking assumes, at most. VMs
// often report the whole host's L3 (hundreds of MiB), which makes Eigen
// pack right-hand panels far larger than one core's share of the cache.
constexpr std::ptrdiff_t kMaxL3Bytes = std::ptrdiff_t{8} << 20;

// Once per process, before any GEMM: caps Eigen's L3 size (a process-wide
// setting that Eigen reads on every product).
void TuneEigenCaches() {
  static std::once_flag once;
  std::call_once(once, [] {
    Eigen::setCpuCacheSizes(Eigen::l1CacheSize(), Eigen::l2CacheSize(),
                            std::min(Eigen::l3CacheSize(), kMaxL3Bytes));
  });
}

void* AllocZeroed(size_t bytes) {
  void* p = nullptr;
  const size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  if (posix_memalign(&p, kAlignment, rounded == 0 ? kAlignment : rounded) !=
      0) {
    return nullptr;
  }
  std::memset(p, 0, rounded);
  return p;
}

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int threads) {
    TuneEigenCaches();
    ctx_.threads = threads > 0 ? threads : omp_get_max_threads();
  }

  std::string Name() const override { return "cpu"; }

  float* Alloc(size_t n) override {
    return static_cast<float*>(AllocZeroed(n * sizeof(float)));
  }
  int32_t* AllocInt(size_t n) override {
    return static_cast<int32_t*>(AllocZeroed(n * sizeof(int32_t)));
  }
  void Free(void* p) override { std::free(p); }
  void Zero(float* p, size_t n) override {
    cpu::ParallelRange(
        n, ctx_.threads, kMinParallelFloats, [&](int64_t begin, int64_t end) {
          std::memset(p + begin, 0, (end - begin) * sizeof(float));
        });
  }
  void CopyFromHost(float* dst, const float* src, size_t n) override {
    Copy(dst, src, n);
  }
  void CopyIntFromHost(int32_t* dst, const int32_t* src, size_t n) override {
    if (n > 0) std::memcpy(dst, src, n * sizeof(int32_t));
  }
  void CopyToHost(float* dst, const float* src, size_t n) override {
    Copy(dst, src, n);
  }
  void Synchronize() override {}

  void EncoderForward(float* out, const int32_t* inp, const float* wte,
                      const float* wpe, int B, int T, int C) override {
    cpu::EncoderForward(ctx_, out, inp, wte, wpe, B, T, C);
  }
  void EncoderBackward(float* dwte, float* dwpe, const float* dout,
                       const int32_t* inp, int B, int T, int C) override {
    cpu::EncoderBackward(ctx_, dwte, dwpe, dout, inp, B, T, C);
  }
  void LayerNormForward(float* out, float* mean, float* rstd, const float* inp,
                        const float* weight, const float* bias, int N,
                        int C) override {
    cpu::LayerNormForward(ctx_, out, mean, rstd, inp, weight, bias, N, C);
  }
  void LayerNormBackward(float* dinp, float* dweight, float* dbias,
                         const float* dout, const float* inp,
                         const float* weight, const float* mean,
                         const float* rstd, int N, int C) override {
    cpu::LayerNormBackward(ctx_, dinp, dweight, dbias, dout, inp, weight, mean,
                           rstd, N, C);
  }
  void MatmulForward(float* out, const float* inp, const float* weight,
                     const float* bias, int N, int C, int OC) override {
    cpu::MatmulForward(ctx_, out, inp, weight, bias, N, C, OC);
  }
  void MatmulBackward(float* dinp, float* dweight, float* dbias,
                      const float* dout, const float* inp, const float* weight,
                      int N, int C, int OC) override {
    cpu::MatmulBackward(ctx_, dinp, dweight, dbias, dout, inp, weight, N, C,
                        OC);
  }
  void AttentionForward(float* out, float* att, const float* qkv, int B, int T,
                        int C, int NH) override {
    cpu::AttentionForward(ctx_, out, att, qkv, B, T, C, NH);
  }
  void AttentionBackward(float* dqkv, float* datt, const float* dout,
                         const float* qkv, const float* att, int B, int T,
                         int C, int NH) override {
    cpu::AttentionBackward(ctx_, dqkv, datt, dout, qkv, att, B, T, C, NH);
  }
  void GeluForward(float* out, const float* inp, size_t N) override {
    cpu::GeluForward(ctx_, out, inp, N);
  }
  void GeluBackward(float* dinp, const float* inp, const float* dout,
                    size_t N) override {
    cpu::GeluBackward(ctx_, dinp, inp, dout, N);
  }
  void ResidualForward(float* out, const float* a, const float* b,
                       size_t N) override {
    cpu::ResidualForward(ctx_, out, a, b, N);
  }
  void ResidualBackward(float* da, float* db, const float* dout,
                        size_t N) override {
    cpu::ResidualBackward(ctx_, da, db, dout, N);
  }
  void SoftmaxCrossEntropy(float* losses, float* dlogits, const float* logits,
                           const int32_t* targets, int B, int T, int V, int Vp,
                           float dloss) override {
    cpu::SoftmaxCrossEntropy(ctx_, losses, dlogits, logits, targets, B, T, V,
                             Vp, dloss);
  }
  void ActivationForward(Activation act, float* out, const float* inp,
                         size_t N) override {
    cpu::ActivationForward(ctx_, act, out, inp, N);
  }
  void ActivationBackward(Activation act, float* dinp, const float* out,
                          const float* dout, size_t N) override {
    cpu::ActivationBackward(ctx_, act, dinp, out, dout, N);
  }
  void MseLoss(float* losses, float* dpred, const float* pred,
               const float* target, int N, int K, float dloss) override {
    cpu::MseLoss(ctx_, losses, dpred, pred, target, N, K, dloss);
  }
  void HingeLoss(float* losses, float* dscores, const float* scores,
                 const int32_t* labels, int N, int K, float dloss) override {
    cpu::HingeLoss(ctx_, losses, dscores, scores, labels, N, K, dloss);
  }
  double SumSquares(const float* x, size_t n) override {
    return cpu::SumSquares(ctx_, x, n);
  }
  void Scale(float* x, float s, size_t n) override {
    cpu::Scale(ctx_, x, s, n);
  }

 private:
  void Copy(float* dst, const float* src, size_t n) {
    cpu::ParallelRange(
        n, ctx_.threads, kMinParallelFloats, [&](int64_t begin, int64_t end) {
          std::memcpy(dst + begin, src + begin, (end - begin) * sizeof(float));
        });
  }

  cpu::Context ctx_;
};

}  // namespace

std::unique_ptr<Backend> MakeCpuBackend(int threads) {
  return std::make_unique<CpuBackend>(threads);
}

}  // namespace pserve
