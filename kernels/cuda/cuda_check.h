// Error-check macros for the CUDA runtime and cuBLAS, usable from .cc and .cu.
// A failed call inside an op is a broken device or a bug, not a recoverable
// condition (ops return void), so the macros print file:line and abort.
// Thread-safety: stateless.
#ifndef PSERVE_KERNELS_CUDA_CUDA_CHECK_H_
#define PSERVE_KERNELS_CUDA_CUDA_CHECK_H_

#include <cublas_api.h>
#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstdlib>

namespace pserve::cuda {

[[noreturn]] inline void CudaFail(const char* what, const char* detail,
                                  const char* file, int line) {
  std::fprintf(stderr, "%s:%d: %s failed: %s\n", file, line, what, detail);
  std::abort();
}

}  // namespace pserve::cuda

#define CUDA_CHECK(expr)                                                   \
  do {                                                                     \
    cudaError_t cuda_check_err_ = (expr);                                  \
    if (cuda_check_err_ != cudaSuccess) {                                  \
      ::pserve::cuda::CudaFail(#expr, cudaGetErrorString(cuda_check_err_), \
                               __FILE__, __LINE__);                        \
    }                                                                      \
  } while (0)

// After every kernel launch: catches bad launch configurations at once.
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

#define CUBLAS_CHECK(expr)                                                     \
  do {                                                                         \
    cublasStatus_t cublas_check_st_ = (expr);                                  \
    if (cublas_check_st_ != CUBLAS_STATUS_SUCCESS) {                           \
      ::pserve::cuda::CudaFail(#expr, cublasGetStatusString(cublas_check_st_), \
                               __FILE__, __LINE__);                            \
    }                                                                          \
  } while (0)

#endif  // PSERVE_KERNELS_CUDA_CUDA_CHECK_H_
