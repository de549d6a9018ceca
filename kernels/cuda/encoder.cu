// Token + position embedding, forward and backward. The wte gradient is
// deterministic without float atomics: the host buckets positions by token
// and one thread per (token, channel) adds its positions in order.
// Thread-safety: stateless launchers; work is ordered by the caller's stream.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launchers.h"

namespace pserve::cuda {
namespace {

// out (N,C), inp (N), wte (V,C), wpe (T,C).
__global__ void EncoderForwardKernel(float* out, const int32_t* inp,
                                     const float* wte, const float* wpe, int T,
                                     int C, size_t total) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < total;
       i += size_t{gridDim.x} * blockDim.x) {
    const size_t bt = i / C;
    const int c = static_cast<int>(i % C);
    const int t = static_cast<int>(bt % T);
    const size_t ix = static_cast<size_t>(inp[bt]);
    out[i] = wte[ix * C + c] + wpe[static_cast<size_t>(t) * C + c];
  }
}

// One thread per (t, c): dwpe (T,C) += dout[b, t, c] for b = 0..B-1 in order.
__global__ void EncoderBackwardWpeKernel(float* dwpe, const float* dout, int B,
                                         int T, int C) {
  const size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x;
  const size_t tc = static_cast<size_t>(T) * C;
  if (i >= tc) return;
  float acc = dwpe[i];
  for (int b = 0; b < B; ++b) acc += dout[b * tc + i];
  dwpe[i] = acc;
}

// Grid (U, ceil(C / blockDim)): block row u owns token tokens[u]; each thread
// one channel, adding the token's positions in ascending order.
__global__ void EncoderBackwardWteKernel(float* dwte, const float* dout,
                                         const int32_t* tokens,
                                         const int32_t* offsets,
                                         const int32_t* positions, int C) {
  const int u = blockIdx.x;
  const int c = blockIdx.y * blockDim.x + threadIdx.x;
  if (c >= C) return;
  float* row = dwte + static_cast<size_t>(tokens[u]) * C;
  float acc = row[c];
  const int end = offsets[u + 1];
  for (int j = offsets[u]; j < end; ++j) {
    acc += dout[static_cast<size_t>(positions[j]) * C + c];
  }
  row[c] = acc;
}

}  // namespace

void LaunchEncoderForward(float* out, const int32_t* inp, const float* wte,
                          const float* wpe, int B, int T, int C,
                          cudaStream_t stream) {
  const size_t total = static_cast<size_t>(B) * T * C;
  if (total == 0) return;
  EncoderForwardKernel<<<ElementwiseBlocks(total), kElementwiseThreads, 0,
                         stream>>>(out, inp, wte, wpe, T, C, total);
  CUDA_CHECK_LAUNCH();
}

void LaunchEncoderBackwardWpe(float* dwpe, const float* dout, int B, int T,
                              int C, cudaStream_t stream) {
  const size_t tc = static_cast<size_t>(T) * C;
  if (tc == 0) return;
  EncoderBackwardWpeKernel<<<CeilDiv(tc, kElementwiseThreads),
                             kElementwiseThreads, 0, stream>>>(dwpe, dout, B, T,
                                                               C);
  CUDA_CHECK_LAUNCH();
}

void LaunchEncoderBackwardWte(float* dwte, const float* dout,
                              const int32_t* tokens, const int32_t* offsets,
                              const int32_t* positions, int U, int C,
                              cudaStream_t stream) {
  if (U == 0 || C == 0) return;
  constexpr int kThreads = 128;
  const dim3 grid(U, CeilDiv(C, kThreads));
  EncoderBackwardWteKernel<<<grid, kThreads, 0, stream>>>(
      dwte, dout, tokens, offsets, positions, C);
  CUDA_CHECK_LAUNCH();
}

}  // namespace pserve::cuda
