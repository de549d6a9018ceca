// Softmax kernels. Causal attention softmax, forward and backward, in place
// on (B*NH*T, T) row matrices (row r is query t = r % T over keys t2 <= t;
// entries past t are written 0), one warp per row. Fused softmax +
// cross-entropy over the first V of Vp logits, one block per row: losses (N)
// and optionally dlogits (N,Vp) = (p - onehot) * dloss, 0 in the padding;
// probabilities are never stored and dlogits may alias logits.
// Thread-safety: stateless launchers; work is ordered by the caller's stream.
#include <cfloat>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launchers.h"

namespace pserve::cuda {
namespace {

constexpr int kRowThreads = 256;
constexpr int kRowsPerBlock = kRowThreads / kWarp;
constexpr int kCrossEntropyThreads = 512;

// att (rows, T): preatt on entry (unscaled QK^T), probabilities on exit.
__global__ void CausalSoftmaxForwardKernel(float* att, int rows, int T,
                                           float scale) {
  const int row = blockIdx.x * kRowsPerBlock + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (row >= rows) return;
  const int t = row % T;
  float* x = att + static_cast<size_t>(row) * T;
  float maxval = -FLT_MAX;
  for (int t2 = lane; t2 <= t; t2 += kWarp)
    maxval = fmaxf(maxval, x[t2] * scale);
  maxval = WarpMax(maxval);
  float sum = 0.0f;
  for (int t2 = lane; t2 <= t; t2 += kWarp) {
    const float e = expf(x[t2] * scale - maxval);
    x[t2] = e;
    sum += e;
  }
  const float inv = 1.0f / WarpSum(sum);
  for (int t2 = lane; t2 < T; t2 += kWarp) {
    x[t2] = t2 <= t ? x[t2] * inv : 0.0f;
  }
}

// datt (rows, T): d(att) on entry, d(unscaled preatt) on exit.
__global__ void CausalSoftmaxBackwardKernel(float* datt, const float* att,
                                            int rows, int T, float scale) {
  const int row = blockIdx.x * kRowsPerBlock + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (row >= rows) return;
  const int t = row % T;
  const size_t base = static_cast<size_t>(row) * T;
  float dot = 0.0f;
  for (int t2 = lane; t2 <= t; t2 += kWarp)
    dot += att[base + t2] * datt[base + t2];
  dot = WarpSum(dot);
  for (int t2 = lane; t2 < T; t2 += kWarp) {
    datt[base + t2] =
        t2 <= t ? att[base + t2] * (datt[base + t2] - dot) * scale : 0.0f;
  }
}

// No __restrict__: dlogits and logits may be the same buffer.
__global__ void SoftmaxCrossEntropyKernel(float* losses, float* dlogits,
                                          const float* logits,
                                          const int32_t* targets, int V, int Vp,
                                          float dloss) {
  __shared__ float shared[kWarp];
  const size_t row = blockIdx.x;
  const float* x = logits + row * Vp;
  float maxval = -FLT_MAX;
  for (int i = threadIdx.x; i < V; i += blockDim.x)
    maxval = fmaxf(maxval, x[i]);
  maxval = BlockMax(maxval, shared);
  float sum = 0.0f;
  for (int i = threadIdx.x; i < V; i += blockDim.x) sum += expf(x[i] - maxval);
  sum = BlockSum(sum, shared);
  const float inv = 1.0f / sum;
  const int target = targets[row];
  const float p_target = expf(x[target] - maxval) * inv;
  if (threadIdx.x == 0) losses[row] = -logf(p_target);
  if (dlogits == nullptr) return;
  __syncthreads();  // every thread has read x[target] before it is replaced
  float* d = dlogits + row * Vp;
  for (int i = threadIdx.x; i < Vp; i += blockDim.x) {
    if (i < V) {
      const float p = expf(x[i] - maxval) * inv;
      d[i] = (p - (i == target ? 1.0f : 0.0f)) * dloss;
    } else {
      d[i] = 0.0f;
    }
  }
}

}  // namespace

void LaunchCausalSoftmaxForward(float* att, int rows, int T, float scale,
                                cudaStream_t stream) {
  if (rows == 0) return;
  CausalSoftmaxForwardKernel<<<CeilDiv(rows, kRowsPerBlock), kRowThreads, 0,
                               stream>>>(att, rows, T, scale);
  CUDA_CHECK_LAUNCH();
}

void LaunchCausalSoftmaxBackward(float* datt, const float* att, int rows, int T,
                                 float scale, cudaStream_t stream) {
  if (rows == 0) return;
  CausalSoftmaxBackwardKernel<<<CeilDiv(rows, kRowsPerBlock), kRowThreads, 0,
                                stream>>>(datt, att, rows, T, scale);
  CUDA_CHECK_LAUNCH();
}

void LaunchSoftmaxCrossEntropy(float* losses, float* dlogits,
                               const float* logits, const int32_t* targets,
                               int N, int V, int Vp, float dloss,
                               cudaStream_t stream) {
  if (N == 0) return;
  SoftmaxCrossEntropyKernel<<<N, kCrossEntropyThreads, 0, stream>>>(
      losses, dlogits, logits, targets, V, Vp, dloss);
  CUDA_CHECK_LAUNCH();
}

}  // namespace pserve::cuda
