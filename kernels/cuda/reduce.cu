// Deterministic reductions: column sums of a (N,C) matrix in two passes
// (per-chunk partials, then chunks added in order), used for bias and
// layernorm parameter gradients, and the sum of squares for the grad norm.
// Thread-safety: stateless launchers; work is ordered by the caller's stream.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launchers.h"

namespace pserve::cuda {
namespace {

constexpr int kSumSquaresThreads = 512;
constexpr int kSumSquaresMaxBlocks = 1024;

// Grid (ceil(C/32), chunks), block (32, 8). partials (chunks, C).
__global__ void ColumnSumPartialsKernel(float* partials, const float* x, int N,
                                        int C) {
  __shared__ float s[8][kWarp];
  const int c = blockIdx.x * kWarp + threadIdx.x;
  const int chunk = blockIdx.y;
  const int begin = chunk * kColumnChunkRows;
  const int end = min(N, begin + kColumnChunkRows);
  float acc = 0.0f;
  if (c < C) {
    for (int r = begin + threadIdx.y; r < end; r += blockDim.y) {
      acc += x[static_cast<size_t>(r) * C + c];
    }
  }
  s[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && c < C) {
    for (int y = 1; y < blockDim.y; ++y) acc += s[y][threadIdx.x];
    partials[static_cast<size_t>(chunk) * C + c] = acc;
  }
}

// dst0 (C) += sum_k partials[0][k]; dst1 likewise from partials[1].
__global__ void FinishColumnSumsKernel(float* dst0, float* dst1,
                                       const float* partials, int chunks,
                                       int C) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  float acc = 0.0f;
  for (int k = 0; k < chunks; ++k)
    acc += partials[static_cast<size_t>(k) * C + c];
  dst0[c] += acc;
  if (dst1 != nullptr) {
    const float* p1 = partials + static_cast<size_t>(chunks) * C;
    acc = 0.0f;
    for (int k = 0; k < chunks; ++k) acc += p1[static_cast<size_t>(k) * C + c];
    dst1[c] += acc;
  }
}

// partials (gridDim.x): per block, the double sum of x[i]^2 of its stride.
__global__ void SumSquaresKernel(double* partials, const float* x, size_t n) {
  __shared__ double shared[kWarp];
  double acc = 0.0;
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n;
       i += size_t{gridDim.x} * blockDim.x) {
    const double v = x[i];
    acc += v * v;
  }
  acc = BlockSum(acc, shared);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

}  // namespace

void LaunchColumnSumPartials(float* partials, const float* x, int N, int C,
                             cudaStream_t stream) {
  if (N == 0 || C == 0) return;
  const dim3 grid(CeilDiv(C, kWarp), ColumnChunks(N));
  const dim3 block(kWarp, 8);
  ColumnSumPartialsKernel<<<grid, block, 0, stream>>>(partials, x, N, C);
  CUDA_CHECK_LAUNCH();
}

void LaunchFinishColumnSums(float* dst0, float* dst1, const float* partials,
                            int chunks, int C, cudaStream_t stream) {
  if (chunks == 0 || C == 0) return;
  FinishColumnSumsKernel<<<CeilDiv(C, kElementwiseThreads), kElementwiseThreads,
                           0, stream>>>(dst0, dst1, partials, chunks, C);
  CUDA_CHECK_LAUNCH();
}

int SumSquaresBlocks(size_t n) {
  const size_t per_block = size_t{kSumSquaresThreads} * 8;
  size_t blocks = (n + per_block - 1) / per_block;
  if (blocks > kSumSquaresMaxBlocks) blocks = kSumSquaresMaxBlocks;
  return blocks == 0 ? 1 : static_cast<int>(blocks);
}

void LaunchSumSquaresPartials(double* partials, const float* x, size_t n,
                              cudaStream_t stream) {
  SumSquaresKernel<<<SumSquaresBlocks(n), kSumSquaresThreads, 0, stream>>>(
      partials, x, n);
  CUDA_CHECK_LAUNCH();
}

}  // namespace pserve::cuda
