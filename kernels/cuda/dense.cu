// The dense-model ops on the GPU: ReLU / sigmoid / tanh forward and
// backward (grid-stride elementwise, backward accumulates), and the MSE
// and multiclass hinge losses (one thread per row; K is small).
// Thread-safety: stateless launchers; work is ordered by the caller's stream.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launchers.h"

namespace pserve::cuda {
namespace {

#define GRID_STRIDE_LOOP(i, n)                                            \
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < (n); \
       i += size_t{gridDim.x} * blockDim.x)

__device__ __forceinline__ float Act(int act, float x) {
  if (act == kActRelu) return x > 0.0f ? x : 0.0f;
  if (act == kActSigmoid) return 1.0f / (1.0f + expf(-x));
  return tanhf(x);
}

// d act / dx through the output y = act(x).
__device__ __forceinline__ float ActGrad(int act, float y) {
  if (act == kActRelu) return y > 0.0f ? 1.0f : 0.0f;
  if (act == kActSigmoid) return y * (1.0f - y);
  return 1.0f - y * y;
}

__global__ void ActivationForwardKernel(int act, float* out, const float* inp,
                                        size_t n) {
  GRID_STRIDE_LOOP(i, n) { out[i] = Act(act, inp[i]); }
}

__global__ void ActivationBackwardKernel(int act, float* dinp, const float* out,
                                         const float* dout, size_t n) {
  GRID_STRIDE_LOOP(i, n) { dinp[i] += ActGrad(act, out[i]) * dout[i]; }
}

__global__ void MseKernel(float* losses, float* dpred, const float* pred,
                          const float* target, int N, int K, float dloss) {
  GRID_STRIDE_LOOP(r, static_cast<size_t>(N)) {
    const float grad_scale = 2.0f * dloss / static_cast<float>(K);
    float sum = 0.0f;
    for (int k = 0; k < K; ++k) {
      const float d = pred[r * K + k] - target[r * K + k];
      sum += d * d;
      if (dpred != nullptr) dpred[r * K + k] = grad_scale * d;
    }
    losses[r] = sum / static_cast<float>(K);
  }
}

__global__ void HingeKernel(float* losses, float* dscores, const float* scores,
                            const int32_t* labels, int N, int K, float dloss) {
  GRID_STRIDE_LOOP(r, static_cast<size_t>(N)) {
    const float* s = scores + r * K;
    const int y = labels[r];
    float loss = 0.0f;
    int violations = 0;
    for (int j = 0; j < K; ++j) {
      const float margin = j == y ? 0.0f : 1.0f + s[j] - s[y];
      const bool active = margin > 0.0f;
      loss += active ? margin : 0.0f;
      violations += active;
      if (dscores != nullptr) dscores[r * K + j] = active ? dloss : 0.0f;
    }
    if (dscores != nullptr)
      dscores[r * K + y] = -dloss * static_cast<float>(violations);
    losses[r] = loss;
  }
}

#undef GRID_STRIDE_LOOP

}  // namespace

void LaunchActivationForward(int act, float* out, const float* inp, size_t n,
                             cudaStream_t stream) {
  if (n == 0) return;
  ActivationForwardKernel<<<ElementwiseBlocks(n), kElementwiseThreads, 0,
                            stream>>>(act, out, inp, n);
  CUDA_CHECK_LAUNCH();
}

void LaunchActivationBackward(int act, float* dinp, const float* out,
                              const float* dout, size_t n,
                              cudaStream_t stream) {
  if (n == 0) return;
  ActivationBackwardKernel<<<ElementwiseBlocks(n), kElementwiseThreads, 0,
                             stream>>>(act, dinp, out, dout, n);
  CUDA_CHECK_LAUNCH();
}

void LaunchMseLoss(float* losses, float* dpred, const float* pred,
                   const float* target, int N, int K, float dloss,
                   cudaStream_t stream) {
  if (N <= 0) return;
  MseKernel<<<ElementwiseBlocks(N), kElementwiseThreads, 0, stream>>>(
      losses, dpred, pred, target, N, K, dloss);
  CUDA_CHECK_LAUNCH();
}

void LaunchHingeLoss(float* losses, float* dscores, const float* scores,
                     const int32_t* labels, int N, int K, float dloss,
                     cudaStream_t stream) {
  if (N <= 0) return;
  HingeKernel<<<ElementwiseBlocks(N), kElementwiseThreads, 0, stream>>>(
      losses, dscores, scores, labels, N, K, dloss);
  CUDA_CHECK_LAUNCH();
}

}  // namespace pserve::cuda
