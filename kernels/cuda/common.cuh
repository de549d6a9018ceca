// Device helpers shared by the .cu files: warp and block reductions in a
// fixed order (so results are bitwise reproducible) and launch sizing.
// Thread-safety: stateless device functions.
#ifndef PSERVE_KERNELS_CUDA_COMMON_CUH_
#define PSERVE_KERNELS_CUDA_COMMON_CUH_

#include <cuda_runtime.h>

#include <cstddef>

namespace pserve::cuda {

inline constexpr int kWarp = 32;
inline constexpr int kElementwiseThreads = 256;

inline int CeilDiv(size_t a, size_t b) {
  return static_cast<int>((a + b - 1) / b);
}

// Blocks for a grid-stride elementwise loop over n items.
inline int ElementwiseBlocks(size_t n) {
  size_t blocks = (n + kElementwiseThreads - 1) / kElementwiseThreads;
  if (blocks > 65535 * 8) blocks = 65535 * 8;
  return blocks == 0 ? 1 : static_cast<int>(blocks);
}

template <typename F>
__device__ __forceinline__ F WarpSum(F v) {
  for (int off = kWarp / 2; off > 0; off /= 2) {
    v += __shfl_xor_sync(0xffffffffu, v, off);
  }
  return v;
}

__device__ __forceinline__ float WarpMax(float v) {
  for (int off = kWarp / 2; off > 0; off /= 2) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
  }
  return v;
}

// Sum over the block; every thread gets the result. `shared` holds one slot
// per warp (blockDim.x / 32 <= 32). Contains __syncthreads: call uniformly.
template <typename F>
__device__ F BlockSum(F v, F* shared) {
  const int lane = threadIdx.x % kWarp;
  const int warp = threadIdx.x / kWarp;
  const int warps = blockDim.x / kWarp;
  v = WarpSum(v);
  __syncthreads();  // `shared` may still be read by an earlier call
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < warps ? shared[lane] : F(0);
  return WarpSum(v);
}

__device__ inline float BlockMax(float v, float* shared) {
  const int lane = threadIdx.x % kWarp;
  const int warp = threadIdx.x / kWarp;
  const int warps = blockDim.x / kWarp;
  v = WarpMax(v);
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < warps ? shared[lane] : -INFINITY;
  return WarpMax(v);
}

}  // namespace pserve::cuda

#endif  // PSERVE_KERNELS_CUDA_COMMON_CUH_
