// Host-side launchers of the custom CUDA kernels (defined in the .cu files).
// Every launcher enqueues on `stream` and returns at once; all pointers are
// device memory. Plain C++ so the backend (.cc, built by gcc) can call them.
// Thread-safety: stateless; callers serialize work per stream.
#ifndef PSERVE_KERNELS_CUDA_LAUNCHERS_H_
#define PSERVE_KERNELS_CUDA_LAUNCHERS_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace pserve::cuda {

// encoder.cu ---------------------------------------------------------------
// out (N,C) = wte[inp] (V,C) + wpe[t] (T,C), N = B*T.
void LaunchEncoderForward(float* out, const int32_t* inp, const float* wte,
                          const float* wpe, int B, int T, int C,
                          cudaStream_t stream);
// dwpe (T,C) += sum over b of dout (B,T,C), summed in order of b.
void LaunchEncoderBackwardWpe(float* dwpe, const float* dout, int B, int T,
                              int C, cudaStream_t stream);
// dwte[tokens[u]] (C) += dout[positions[offsets[u] .. offsets[u+1])] in
// order; tokens (U) unique, offsets (U+1), positions (N) ascending per token.
void LaunchEncoderBackwardWte(float* dwte, const float* dout,
                              const int32_t* tokens, const int32_t* offsets,
                              const int32_t* positions, int U, int C,
                              cudaStream_t stream);

// layernorm.cu -------------------------------------------------------------
void LaunchLayerNormForward(float* out, float* mean, float* rstd,
                            const float* inp, const float* weight,
                            const float* bias, int N, int C,
                            cudaStream_t stream);
// dinp (N,C) += row part of the layernorm gradient.
void LaunchLayerNormBackwardInput(float* dinp, const float* dout,
                                  const float* inp, const float* weight,
                                  const float* mean, const float* rstd, int N,
                                  int C, cudaStream_t stream);
// partials (2, chunks, C): per row chunk, sums of dout*norm and of dout.
void LaunchLayerNormParamPartials(float* partials, const float* dout,
                                  const float* inp, const float* mean,
                                  const float* rstd, int N, int C,
                                  cudaStream_t stream);

// reduce.cu ----------------------------------------------------------------
// Rows per chunk of the two-pass column sums; chunks = ceil(N / this).
inline constexpr int kColumnChunkRows = 256;
inline int ColumnChunks(int N) {
  return (N + kColumnChunkRows - 1) / kColumnChunkRows;
}
// partials (chunks, C): per row chunk, column sums of x (N,C).
void LaunchColumnSumPartials(float* partials, const float* x, int N, int C,
                             cudaStream_t stream);
// dst0 (C) += sum over chunks of partials[0] (chunks, C); dst1 likewise
// with partials[1] unless null. Deterministic: chunks are added in order.
void LaunchFinishColumnSums(float* dst0, float* dst1, const float* partials,
                            int chunks, int C, cudaStream_t stream);
// Number of double partials LaunchSumSquaresPartials writes.
int SumSquaresBlocks(size_t n);
void LaunchSumSquaresPartials(double* partials, const float* x, size_t n,
                              cudaStream_t stream);

// softmax.cu: attention ---------------------------------------------------
// In place on att (rows, T), rows = B*NH*T, row r at query t = r % T:
// att = causal softmax(att * scale); entries past t become 0.
void LaunchCausalSoftmaxForward(float* att, int rows, int T, float scale,
                                cudaStream_t stream);
// In place on datt (rows, T): datt = d(preatt) * scale, 0 past t.
void LaunchCausalSoftmaxBackward(float* datt, const float* att, int rows, int T,
                                 float scale, cudaStream_t stream);

// softmax.cu: fused softmax + cross-entropy ------------------------------
// losses (N); dlogits (N,Vp) may be null or equal logits (in place).
void LaunchSoftmaxCrossEntropy(float* losses, float* dlogits,
                               const float* logits, const int32_t* targets,
                               int N, int V, int Vp, float dloss,
                               cudaStream_t stream);

// elementwise.cu -----------------------------------------------------------
void LaunchGeluForward(float* out, const float* inp, size_t n,
                       cudaStream_t stream);
void LaunchGeluBackward(float* dinp, const float* inp, const float* dout,
                        size_t n, cudaStream_t stream);
void LaunchResidualForward(float* out, const float* a, const float* b, size_t n,
                           cudaStream_t stream);
void LaunchResidualBackward(float* da, float* db, const float* dout, size_t n,
                            cudaStream_t stream);
void LaunchScale(float* x, float s, size_t n, cudaStream_t stream);
// out (N,OC) += bias (OC) broadcast over rows.
void LaunchAddBias(float* out, const float* bias, int N, int OC,
                   cudaStream_t stream);

// dense.cu -----------------------------------------------------------------
// Activation codes (the values of pserve::Activation, as ints for nvcc).
inline constexpr int kActRelu = 0;
inline constexpr int kActSigmoid = 1;
inline constexpr int kActTanh = 2;
void LaunchActivationForward(int act, float* out, const float* inp, size_t n,
                             cudaStream_t stream);
// dinp (n) += act'(through out) * dout.
void LaunchActivationBackward(int act, float* dinp, const float* out,
                              const float* dout, size_t n, cudaStream_t stream);
// losses (N), dpred (N,K) may be null; see Backend::MseLoss.
void LaunchMseLoss(float* losses, float* dpred, const float* pred,
                   const float* target, int N, int K, float dloss,
                   cudaStream_t stream);
// losses (N), dscores (N,K) may be null; see Backend::HingeLoss.
void LaunchHingeLoss(float* losses, float* dscores, const float* scores,
                     const int32_t* labels, int N, int K, float dloss,
                     cudaStream_t stream);

}  // namespace pserve::cuda

#endif  // PSERVE_KERNELS_CUDA_LAUNCHERS_H_
