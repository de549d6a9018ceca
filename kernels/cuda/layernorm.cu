// LayerNorm forward and backward (eps 1e-5, fp32 mean and rstd kept for the
// backward pass), as in llm.c. Row work is one warp per row; the weight and
// bias gradients are two-pass column sums (see reduce.cu), so deterministic.
// Thread-safety: stateless launchers; work is ordered by the caller's stream.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launchers.h"

namespace pserve::cuda {
namespace {

constexpr float kEps = 1e-5f;
constexpr int kRowThreads = 256;  // 8 warps, one row each
constexpr int kRowsPerBlock = kRowThreads / kWarp;

// out (N,C), mean (N), rstd (N), inp (N,C), weight (C), bias (C).
__global__ void LayerNormForwardKernel(float* out, float* mean, float* rstd,
                                       const float* inp, const float* weight,
                                       const float* bias, int N, int C) {
  const int row = blockIdx.x * kRowsPerBlock + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (row >= N) return;
  const float* x = inp + static_cast<size_t>(row) * C;
  float sum = 0.0f;
  for (int i = lane; i < C; i += kWarp) sum += x[i];
  const float m = WarpSum(sum) / C;
  float sq = 0.0f;
  for (int i = lane; i < C; i += kWarp) {
    const float d = x[i] - m;
    sq += d * d;
  }
  const float s = 1.0f / sqrtf(WarpSum(sq) / C + kEps);
  float* o = out + static_cast<size_t>(row) * C;
  for (int i = lane; i < C; i += kWarp) {
    o[i] = (s * (x[i] - m)) * weight[i] + bias[i];
  }
  if (lane == 0) {
    mean[row] = m;
    rstd[row] = s;
  }
}

// dinp (N,C) += (w*dout - mean(w*dout) - norm * mean(w*dout*norm)) * rstd.
__global__ void LayerNormBackwardInputKernel(float* dinp, const float* dout,
                                             const float* inp,
                                             const float* weight,
                                             const float* mean,
                                             const float* rstd, int N, int C) {
  const int row = blockIdx.x * kRowsPerBlock + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (row >= N) return;
  const size_t base = static_cast<size_t>(row) * C;
  const float m = mean[row];
  const float s = rstd[row];
  float dnorm_sum = 0.0f;
  float dnorm_norm_sum = 0.0f;
  for (int i = lane; i < C; i += kWarp) {
    const float norm = (inp[base + i] - m) * s;
    const float dnorm = weight[i] * dout[base + i];
    dnorm_sum += dnorm;
    dnorm_norm_sum += dnorm * norm;
  }
  const float dnorm_mean = WarpSum(dnorm_sum) / C;
  const float dnorm_norm_mean = WarpSum(dnorm_norm_sum) / C;
  for (int i = lane; i < C; i += kWarp) {
    const float norm = (inp[base + i] - m) * s;
    const float dnorm = weight[i] * dout[base + i];
    dinp[base + i] += (dnorm - dnorm_mean - norm * dnorm_norm_mean) * s;
  }
}

// Grid (ceil(C/32), chunks), block (32, 8). partials (2, chunks, C):
// [0] sums of dout*norm (dweight), [1] sums of dout (dbias) over the chunk.
__global__ void LayerNormParamPartialsKernel(float* partials, const float* dout,
                                             const float* inp,
                                             const float* mean,
                                             const float* rstd, int N, int C) {
  __shared__ float sw[8][kWarp];
  __shared__ float sb[8][kWarp];
  const int c = blockIdx.x * kWarp + threadIdx.x;
  const int chunk = blockIdx.y;
  const int begin = chunk * kColumnChunkRows;
  const int end = min(N, begin + kColumnChunkRows);
  float acc_w = 0.0f;
  float acc_b = 0.0f;
  if (c < C) {
    for (int r = begin + threadIdx.y; r < end; r += blockDim.y) {
      const size_t i = static_cast<size_t>(r) * C + c;
      const float norm = (inp[i] - mean[r]) * rstd[r];
      acc_w += dout[i] * norm;
      acc_b += dout[i];
    }
  }
  sw[threadIdx.y][threadIdx.x] = acc_w;
  sb[threadIdx.y][threadIdx.x] = acc_b;
  __syncthreads();
  if (threadIdx.y == 0 && c < C) {
    for (int y = 1; y < blockDim.y; ++y) {
      acc_w += sw[y][threadIdx.x];
      acc_b += sb[y][threadIdx.x];
    }
    const int chunks = gridDim.y;
    partials[static_cast<size_t>(chunk) * C + c] = acc_w;
    partials[(static_cast<size_t>(chunks) + chunk) * C + c] = acc_b;
  }
}

}  // namespace

void LaunchLayerNormForward(float* out, float* mean, float* rstd,
                            const float* inp, const float* weight,
                            const float* bias, int N, int C,
                            cudaStream_t stream) {
  if (N == 0) return;
  LayerNormForwardKernel<<<CeilDiv(N, kRowsPerBlock), kRowThreads, 0, stream>>>(
      out, mean, rstd, inp, weight, bias, N, C);
  CUDA_CHECK_LAUNCH();
}

void LaunchLayerNormBackwardInput(float* dinp, const float* dout,
                                  const float* inp, const float* weight,
                                  const float* mean, const float* rstd, int N,
                                  int C, cudaStream_t stream) {
  if (N == 0) return;
  LayerNormBackwardInputKernel<<<CeilDiv(N, kRowsPerBlock), kRowThreads, 0,
                                 stream>>>(dinp, dout, inp, weight, mean, rstd,
                                           N, C);
  CUDA_CHECK_LAUNCH();
}

void LaunchLayerNormParamPartials(float* partials, const float* dout,
                                  const float* inp, const float* mean,
                                  const float* rstd, int N, int C,
                                  cudaStream_t stream) {
  if (N == 0 || C == 0) return;
  const dim3 grid(CeilDiv(C, kWarp), ColumnChunks(N));
  const dim3 block(kWarp, 8);
  LayerNormParamPartialsKernel<<<grid, block, 0, stream>>>(partials, dout, inp,
                                                           mean, rstd, N, C);
  CUDA_CHECK_LAUNCH();
}

}  // namespace pserve::cuda
