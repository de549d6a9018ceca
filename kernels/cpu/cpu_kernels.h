// The Eigen CPU backend's kernels as free functions, one per Backend op of
// kernels/ops.h (which documents every op's semantics and the dimension
// letters B, T, C, OC, V, Vp, NH, N used in the shape comments).
// Thread-safety: a Context and the kernels using it belong to one caller
// thread at a time; kernels fan out over ctx.threads OpenMP threads inside.
#ifndef PSERVE_KERNELS_CPU_CPU_KERNELS_H_
#define PSERVE_KERNELS_CPU_CPU_KERNELS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/ops.h"

namespace pserve {
namespace cpu {

// Per-backend state: the thread count and scratch memory that grows to the
// largest size requested once and is reused after that.
struct Context {
  int threads = 1;
  std::vector<float> scratch;
  std::vector<double> partials;

  float* Scratch(size_t n) {
    if (scratch.size() < n) scratch.resize(n);
    return scratch.data();
  }
  double* Partials(size_t n) {
    if (partials.size() < n) partials.resize(n);
    return partials.data();
  }
};

// cpu_encoder.cc: embeddings and residual adds.
void EncoderForward(Context& ctx, float* out, const int32_t* inp,
                    const float* wte, const float* wpe, int B, int T, int C);
void EncoderBackward(Context& ctx, float* dwte, float* dwpe, const float* dout,
                     const int32_t* inp, int B, int T, int C);
void ResidualForward(Context& ctx, float* out, const float* a, const float* b,
                     size_t N);
void ResidualBackward(Context& ctx, float* da, float* db, const float* dout,
                      size_t N);

// cpu_norm_act.cc: layernorm and GELU.
void LayerNormForward(Context& ctx, float* out, float* mean, float* rstd,
                      const float* inp, const float* weight, const float* bias,
                      int N, int C);
void LayerNormBackward(Context& ctx, float* dinp, float* dweight, float* dbias,
                       const float* dout, const float* inp, const float* weight,
                       const float* mean, const float* rstd, int N, int C);
void GeluForward(Context& ctx, float* out, const float* inp, size_t N);
void GeluBackward(Context& ctx, float* dinp, const float* inp,
                  const float* dout, size_t N);

// cpu_matmul.cc: the linear layer. Besides a null bias / dbias, a null
// dinp is also accepted (that product is skipped).
void MatmulForward(Context& ctx, float* out, const float* inp,
                   const float* weight, const float* bias, int N, int C,
                   int OC);
void MatmulBackward(Context& ctx, float* dinp, float* dweight, float* dbias,
                    const float* dout, const float* inp, const float* weight,
                    int N, int C, int OC);

// cpu_attention.cc: causal multi-head self-attention.
void AttentionForward(Context& ctx, float* out, float* att, const float* qkv,
                      int B, int T, int C, int NH);
void AttentionBackward(Context& ctx, float* dqkv, float* datt,
                       const float* dout, const float* qkv, const float* att,
                       int B, int T, int C, int NH);

// cpu_loss.cc: fused softmax cross-entropy and gradient-norm helpers.
void SoftmaxCrossEntropy(Context& ctx, float* losses, float* dlogits,
                         const float* logits, const int32_t* targets, int B,
                         int T, int V, int Vp, float dloss);
double SumSquares(Context& ctx, const float* x, size_t n);

// cpu_dense.cc: activations and the dense models' losses.
void ActivationForward(Context& ctx, Activation act, float* out,
                       const float* inp, size_t N);
void ActivationBackward(Context& ctx, Activation act, float* dinp,
                        const float* out, const float* dout, size_t N);
void MseLoss(Context& ctx, float* losses, float* dpred, const float* pred,
             const float* target, int N, int K, float dloss);
void HingeLoss(Context& ctx, float* losses, float* dscores, const float* scores,
               const int32_t* labels, int N, int K, float dloss);
void Scale(Context& ctx, float* x, float s, size_t n);

}  // namespace cpu
}  // namespace pserve

#endif  // PSERVE_KERNELS_CPU_CPU_KERNELS_H_
