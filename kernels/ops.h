// The compute-backend interface of pserve workers: llm.c-style GPT-2 ops.
// One Backend per worker thread of control; a Backend is not thread-safe
// (it may use threads internally, and is deterministic for a fixed count).
//
// Dimension letters used in shape comments throughout kernels/:
//   B  batch size             T  sequence length (tokens per row)
//   C  channels (model width) OC output channels of a matmul
//   V  real vocabulary size   Vp vocabulary padded to a multiple of 128
//   L  layers                 NH attention heads (C % NH == 0, hs = C / NH)
//   N  rows of a flattened (B, T) batch, N = B * T
//
// Every pointer passed to an op is memory from this backend's Alloc (host
// memory for the CPU backend, device memory for CUDA). Weights are in
// (out, in) layout, as in llm.c and PyTorch's nn.Linear.
// Every *Backward op ACCUMULATES (+=) into its gradient outputs; callers zero
// gradients before a step. Forward ops overwrite their outputs.
#ifndef PSERVE_KERNELS_OPS_H_
#define PSERVE_KERNELS_OPS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace pserve {

// Element-wise activations of the dense (MLP) models.
enum class Activation { kRelu = 0, kSigmoid = 1, kTanh = 2 };

class Backend {
 public:
  virtual ~Backend() = default;

  // Name for logs: "cpu" or "cuda".
  virtual std::string Name() const = 0;

  // Memory. Alloc returns zeroed memory of n floats (or ints) owned by the
  // caller until Free. Copies are synchronous from the caller's view.
  virtual float* Alloc(size_t n) = 0;
  virtual int32_t* AllocInt(size_t n) = 0;
  virtual void Free(void* p) = 0;
  virtual void Zero(float* p, size_t n) = 0;
  virtual void CopyFromHost(float* dst, const float* src, size_t n) = 0;
  virtual void CopyIntFromHost(int32_t* dst, const int32_t* src, size_t n) = 0;
  virtual void CopyToHost(float* dst, const float* src, size_t n) = 0;
  // Waits until all queued work is done (no-op on the CPU).
  virtual void Synchronize() = 0;

  // out (B,T,C) = wte[inp] (V,C) + wpe[t] (T,C); inp (B,T).
  virtual void EncoderForward(float* out, const int32_t* inp, const float* wte,
                              const float* wpe, int B, int T, int C) = 0;
  // dwte (V,C), dwpe (T,C) += from dout (B,T,C). Deterministic.
  virtual void EncoderBackward(float* dwte, float* dwpe, const float* dout,
                               const int32_t* inp, int B, int T, int C) = 0;

  // out (N,C) = (inp - mean) * rstd * weight + bias; mean, rstd (N) kept.
  virtual void LayerNormForward(float* out, float* mean, float* rstd,
                                const float* inp, const float* weight,
                                const float* bias, int N, int C) = 0;
  virtual void LayerNormBackward(float* dinp, float* dweight, float* dbias,
                                 const float* dout, const float* inp,
                                 const float* weight, const float* mean,
                                 const float* rstd, int N, int C) = 0;

  // out (N,OC) = inp (N,C) @ weight^T (OC,C) + bias (OC); bias may be null.
  virtual void MatmulForward(float* out, const float* inp, const float* weight,
                             const float* bias, int N, int C, int OC) = 0;
  // dinp (N,C), dweight (OC,C), dbias (OC) += from dout (N,OC); dinp and
  // dbias may be null (that part is skipped).
  virtual void MatmulBackward(float* dinp, float* dweight, float* dbias,
                              const float* dout, const float* inp,
                              const float* weight, int N, int C, int OC) = 0;

  // Causal self-attention. qkv (B,T,3C) holds q, k, v for NH heads;
  // out (B,T,C); att (B,NH,T,T) keeps the softmax for backward.
  virtual void AttentionForward(float* out, float* att, const float* qkv, int B,
                                int T, int C, int NH) = 0;
  // dqkv (B,T,3C) += from dout (B,T,C); datt (B,NH,T,T) is scratch.
  virtual void AttentionBackward(float* dqkv, float* datt, const float* dout,
                                 const float* qkv, const float* att, int B,
                                 int T, int C, int NH) = 0;

  // GELU, tanh approximation. out (N) = gelu(inp (N)).
  virtual void GeluForward(float* out, const float* inp, size_t N) = 0;
  // dinp (N) += gelu'(inp) * dout.
  virtual void GeluBackward(float* dinp, const float* inp, const float* dout,
                            size_t N) = 0;

  // out (N) = a + b.
  virtual void ResidualForward(float* out, const float* a, const float* b,
                               size_t N) = 0;
  // da (N) += dout; db (N) += dout.
  virtual void ResidualBackward(float* da, float* db, const float* dout,
                                size_t N) = 0;

  // Fused softmax + cross-entropy over the first V of Vp logits.
  // logits (B,T,Vp), targets (B,T) -> losses (B,T). If dlogits is non-null
  // it receives (softmax - onehot) * dloss for columns < V and 0 for padding,
  // overwriting (not accumulating); dloss is typically 1 / (B*T).
  virtual void SoftmaxCrossEntropy(float* losses, float* dlogits,
                                   const float* logits, const int32_t* targets,
                                   int B, int T, int V, int Vp,
                                   float dloss) = 0;

  // Dense-model ops (MLPs on tabular data; the dense layer itself is
  // MatmulForward / MatmulBackward with N rows). N here counts rows, K the
  // outputs per row.
  // out (N) = act(inp (N)); out may equal inp (in place).
  virtual void ActivationForward(Activation act, float* out, const float* inp,
                                 size_t N) = 0;
  // dinp (N) += act'(x) * dout (N), with act' computed from the forward's
  // OUTPUT out (N): relu 1[out > 0], sigmoid out(1-out), tanh 1-out^2.
  virtual void ActivationBackward(Activation act, float* dinp, const float* out,
                                  const float* dout, size_t N) = 0;
  // Mean squared error per row: losses (N) = mean_k (pred - target)^2 over
  // pred, target (N,K). If dpred (N,K) is non-null it receives
  // 2 (pred - target) / K * dloss, overwriting.
  virtual void MseLoss(float* losses, float* dpred, const float* pred,
                       const float* target, int N, int K, float dloss) = 0;
  // Multiclass hinge (Weston-Watkins; for K = 2 the binary hinge on the
  // score difference): losses (N) = sum_{j != y} max(0, 1 + s_j - s_y) over
  // scores (N,K), labels y (N) in [0, K). If dscores (N,K) is non-null it
  // receives the subgradient * dloss, overwriting (0 at the kink).
  virtual void HingeLoss(float* losses, float* dscores, const float* scores,
                         const int32_t* labels, int N, int K, float dloss) = 0;

  // Sum of squares of x (n); used for the global gradient norm.
  virtual double SumSquares(const float* x, size_t n) = 0;
  // x (n) *= s.
  virtual void Scale(float* x, float s, size_t n) = 0;
};

// The Eigen CPU backend with `threads` OpenMP threads (0: all cores).
std::unique_ptr<Backend> MakeCpuBackend(int threads);

// The CUDA backend on GPU `device`; UNAVAILABLE with a one-line reason when
// pserve was built without CUDA or no usable GPU is present.
absl::StatusOr<std::unique_ptr<Backend>> MakeCudaBackend(int device, bool tf32);

}  // namespace pserve

#endif  // PSERVE_KERNELS_OPS_H_
