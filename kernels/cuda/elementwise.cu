// Elementwise ops: GELU (tanh form) forward and backward, residual add and
// its backward, in-place scale, and the bias broadcast of matmul forward.
// Grid-stride loops over size_t indices; backward ops accumulate (+=).
// Thread-safety: stateless launchers; work is ordered by the caller's stream.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launchers.h"

namespace pserve::cuda {
namespace {

// sqrt(2 / pi), as llm.c spells it.
#define GELU_SCALING_FACTOR sqrtf(2.0f / M_PI)

#define GRID_STRIDE_LOOP(i, n)                                            \
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < (n); \
       i += size_t{gridDim.x} * blockDim.x)

__global__ void GeluForwardKernel(float* out, const float* inp, size_t n) {
  GRID_STRIDE_LOOP(i, n) {
    const float x = inp[i];
    const float cube = 0.044715f * x * x * x;
    out[i] = 0.5f * x * (1.0f + tanhf(GELU_SCALING_FACTOR * (x + cube)));
  }
}

__global__ void GeluBackwardKernel(float* dinp, const float* inp,
                                   const float* dout, size_t n) {
  GRID_STRIDE_LOOP(i, n) {
    const float x = inp[i];
    const float cube = 0.044715f * x * x * x;
    const float tanh_arg = GELU_SCALING_FACTOR * (x + cube);
    const float tanh_out = tanhf(tanh_arg);
    const float cosh_out = coshf(tanh_arg);
    const float sech_out = 1.0f / (cosh_out * cosh_out);
    const float local_grad =
        0.5f * (1.0f + tanh_out) + x * 0.5f * sech_out * GELU_SCALING_FACTOR *
                                       (1.0f + 3.0f * 0.044715f * x * x);
    dinp[i] += local_grad * dout[i];
  }
}

__global__ void ResidualForwardKernel(float* out, const float* a,
                                      const float* b, size_t n) {
  GRID_STRIDE_LOOP(i, n) { out[i] = a[i] + b[i]; }
}

__global__ void ResidualBackwardKernel(float* da, float* db, const float* dout,
                                       size_t n) {
  GRID_STRIDE_LOOP(i, n) {
    const float d = dout[i];
    da[i] += d;
    db[i] += d;
  }
}

__global__ void ScaleKernel(float* x, float s, size_t n) {
  GRID_STRIDE_LOOP(i, n) { x[i] *= s; }
}

// out (N,OC) += bias (OC); n = N * OC.
__global__ void AddBiasKernel(float* out, const float* bias, int OC, size_t n) {
  GRID_STRIDE_LOOP(i, n) { out[i] += bias[i % OC]; }
}

#undef GRID_STRIDE_LOOP

}  // namespace

void LaunchGeluForward(float* out, const float* inp, size_t n,
                       cudaStream_t stream) {
  if (n == 0) return;
  GeluForwardKernel<<<ElementwiseBlocks(n), kElementwiseThreads, 0, stream>>>(
      out, inp, n);
  CUDA_CHECK_LAUNCH();
}

void LaunchGeluBackward(float* dinp, const float* inp, const float* dout,
                        size_t n, cudaStream_t stream) {
  if (n == 0) return;
  GeluBackwardKernel<<<ElementwiseBlocks(n), kElementwiseThreads, 0, stream>>>(
      dinp, inp, dout, n);
  CUDA_CHECK_LAUNCH();
}

void LaunchResidualForward(float* out, const float* a, const float* b, size_t n,
                           cudaStream_t stream) {
  if (n == 0) return;
  ResidualForwardKernel<<<ElementwiseBlocks(n), kElementwiseThreads, 0,
                          stream>>>(out, a, b, n);
  CUDA_CHECK_LAUNCH();
}

void LaunchResidualBackward(float* da, float* db, const float* dout, size_t n,
                            cudaStream_t stream) {
  if (n == 0) return;
  ResidualBackwardKernel<<<ElementwiseBlocks(n), kElementwiseThreads, 0,
                           stream>>>(da, db, dout, n);
  CUDA_CHECK_LAUNCH();
}

void LaunchScale(float* x, float s, size_t n, cudaStream_t stream) {
  if (n == 0) return;
  ScaleKernel<<<ElementwiseBlocks(n), kElementwiseThreads, 0, stream>>>(x, s,
                                                                        n);
  CUDA_CHECK_LAUNCH();
}

void LaunchAddBias(float* out, const float* bias, int N, int OC,
                   cudaStream_t stream) {
  const size_t n = static_cast<size_t>(N) * OC;
  if (n == 0) return;
  AddBiasKernel<<<ElementwiseBlocks(n), kElementwiseThreads, 0, stream>>>(
      out, bias, OC, n);
  CUDA_CHECK_LAUNCH();
}

}  // namespace pserve::cuda
