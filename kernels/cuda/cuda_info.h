// Facts about the CUDA devices for tools (the GPU benchmark), without CUDA
// headers so plain cc_* targets can include it. Defined only in builds with
// --config=cuda (in cuda_backend.cc).
// Thread-safety: safe to call from any thread.
#ifndef PSERVE_KERNELS_CUDA_CUDA_INFO_H_
#define PSERVE_KERNELS_CUDA_CUDA_INFO_H_

#include <string>

namespace pserve {

// The device's name as the driver reports it ("NVIDIA H100 80GB HBM3"), or
// "" if it cannot be queried.
std::string CudaDeviceName(int device);

}  // namespace pserve

#endif  // PSERVE_KERNELS_CUDA_CUDA_INFO_H_
