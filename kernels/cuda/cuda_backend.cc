// The CUDA Backend's memory ops, its non-matmul ops (dispatch to the kernel
// launchers) and MakeCudaBackend. Matmuls and attention are in cuda_blas.cc.
// Thread-safety: one caller thread at a time per backend (see ops.h).
#include "kernels/cuda/cuda_backend.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_info.h"
#include "kernels/cuda/launchers.h"

namespace pserve {
namespace cuda {

DeviceScratch::~DeviceScratch() {
  if (ptr_ != nullptr) cudaFree(ptr_);
}

void* DeviceScratch::Get(size_t bytes) {
  if (bytes > bytes_) {
    if (ptr_ != nullptr) CUDA_CHECK(cudaFree(ptr_));
    ptr_ = nullptr;
    CUDA_CHECK(cudaMalloc(&ptr_, bytes));
    bytes_ = bytes;
  }
  return ptr_;
}

CudaBackend::CudaBackend(int device, bool tf32, cudaStream_t stream,
                         cublasHandle_t blas)
    : device_(device), tf32_(tf32), stream_(stream), blas_(blas) {}

CudaBackend::~CudaBackend() {
  cudaSetDevice(device_);
  cudaStreamSynchronize(stream_);
  cublasDestroy(blas_);
  cudaStreamDestroy(stream_);
}

void CudaBackend::Activate() { CUDA_CHECK(cudaSetDevice(device_)); }

// Memory ---------------------------------------------------------------------

float* CudaBackend::Alloc(size_t n) {
  Activate();
  void* p = nullptr;
  const size_t bytes = std::max<size_t>(n, 1) * sizeof(float);
  CUDA_CHECK(cudaMalloc(&p, bytes));
  CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream_));
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  return static_cast<float*>(p);
}

int32_t* CudaBackend::AllocInt(size_t n) {
  static_assert(sizeof(int32_t) == sizeof(float));
  return reinterpret_cast<int32_t*>(Alloc(n));
}

void CudaBackend::Free(void* p) {
  if (p == nullptr) return;
  Activate();
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  CUDA_CHECK(cudaFree(p));
}

void CudaBackend::Zero(float* p, size_t n) {
  Activate();
  if (n > 0) CUDA_CHECK(cudaMemsetAsync(p, 0, n * sizeof(float), stream_));
}

void CudaBackend::CopyFromHost(float* dst, const float* src, size_t n) {
  Activate();
  CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(float),
                             cudaMemcpyHostToDevice, stream_));
  CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::CopyIntFromHost(int32_t* dst, const int32_t* src, size_t n) {
  Activate();
  CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(int32_t),
                             cudaMemcpyHostToDevice, stream_));
  CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::CopyToHost(float* dst, const float* src, size_t n) {
  Activate();
  CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(float),
                             cudaMemcpyDeviceToHost, stream_));
  CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::Synchronize() {
  Activate();
  CUDA_CHECK(cudaStreamSynchronize(stream_));
}

// Encoder ------------------------------------------------------------------

void CudaBackend::EncoderForward(float* out, const int32_t* inp,
                                 const float* wte, const float* wpe, int B,
                                 int T, int C) {
  Activate();
  LaunchEncoderForward(out, inp, wte, wpe, B, T, C, stream_);
}

// The wte gradient needs positions bucketed by token. inp is small (B*T
// ints), so it is bucketed on the host: this waits for the stream once.
void CudaBackend::EncoderBackward(float* dwte, float* dwpe, const float* dout,
                                  const int32_t* inp, int B, int T, int C) {
  Activate();
  LaunchEncoderBackwardWpe(dwpe, dout, B, T, C, stream_);
  const int N = B * T;
  if (N == 0) return;
  host_inp_.resize(N);
  CUDA_CHECK(cudaMemcpyAsync(host_inp_.data(), inp, N * sizeof(int32_t),
                             cudaMemcpyDeviceToHost, stream_));
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  // Sort (token, position) keys: positions ascend within each token.
  std::vector<uint64_t> keys(N);
  for (int i = 0; i < N; ++i) {
    keys[i] =
        (static_cast<uint64_t>(static_cast<uint32_t>(host_inp_[i])) << 32) |
        static_cast<uint32_t>(i);
  }
  std::sort(keys.begin(), keys.end());
  // host_buckets_: tokens (U), offsets (U+1), positions (N).
  host_tokens_.clear();
  std::vector<int32_t> offsets;
  for (int i = 0; i < N; ++i) {
    const int32_t tok = static_cast<int32_t>(keys[i] >> 32);
    if (i == 0 || tok != host_tokens_.back()) {
      host_tokens_.push_back(tok);
      offsets.push_back(i);
    }
  }
  offsets.push_back(N);
  const int U = static_cast<int>(host_tokens_.size());
  host_buckets_.resize(2 * U + 1 + N);
  std::copy(host_tokens_.begin(), host_tokens_.end(), host_buckets_.begin());
  std::copy(offsets.begin(), offsets.end(), host_buckets_.begin() + U);
  for (int i = 0; i < N; ++i) {
    host_buckets_[2 * U + 1 + i] = static_cast<int32_t>(keys[i] & 0xffffffffu);
  }
  auto* dev = static_cast<int32_t*>(
      buckets_.Get(host_buckets_.size() * sizeof(int32_t)));
  CUDA_CHECK(cudaMemcpyAsync(dev, host_buckets_.data(),
                             host_buckets_.size() * sizeof(int32_t),
                             cudaMemcpyHostToDevice, stream_));
  // A copy from pageable memory is staged before cudaMemcpyAsync returns, so
  // host_buckets_ may be reused by the next call.
  LaunchEncoderBackwardWte(dwte, dout, dev, dev + U, dev + 2 * U + 1, U, C,
                           stream_);
}

// LayerNorm ------------------------------------------------------------------

void CudaBackend::LayerNormForward(float* out, float* mean, float* rstd,
                                   const float* inp, const float* weight,
                                   const float* bias, int N, int C) {
  Activate();
  LaunchLayerNormForward(out, mean, rstd, inp, weight, bias, N, C, stream_);
}

void CudaBackend::LayerNormBackward(float* dinp, float* dweight, float* dbias,
                                    const float* dout, const float* inp,
                                    const float* weight, const float* mean,
                                    const float* rstd, int N, int C) {
  Activate();
  if (N == 0) return;
  LaunchLayerNormBackwardInput(dinp, dout, inp, weight, mean, rstd, N, C,
                               stream_);
  const int chunks = ColumnChunks(N);
  auto* partials = static_cast<float*>(
      partials_.Get(2 * static_cast<size_t>(chunks) * C * sizeof(float)));
  LaunchLayerNormParamPartials(partials, dout, inp, mean, rstd, N, C, stream_);
  LaunchFinishColumnSums(dweight, dbias, partials, chunks, C, stream_);
}

// Elementwise, loss, reductions ---------------------------------------------

void CudaBackend::GeluForward(float* out, const float* inp, size_t N) {
  Activate();
  LaunchGeluForward(out, inp, N, stream_);
}

void CudaBackend::GeluBackward(float* dinp, const float* inp, const float* dout,
                               size_t N) {
  Activate();
  LaunchGeluBackward(dinp, inp, dout, N, stream_);
}

void CudaBackend::ResidualForward(float* out, const float* a, const float* b,
                                  size_t N) {
  Activate();
  LaunchResidualForward(out, a, b, N, stream_);
}

void CudaBackend::ResidualBackward(float* da, float* db, const float* dout,
                                   size_t N) {
  Activate();
  LaunchResidualBackward(da, db, dout, N, stream_);
}

void CudaBackend::SoftmaxCrossEntropy(float* losses, float* dlogits,
                                      const float* logits,
                                      const int32_t* targets, int B, int T,
                                      int V, int Vp, float dloss) {
  Activate();
  LaunchSoftmaxCrossEntropy(losses, dlogits, logits, targets, B * T, V, Vp,
                            dloss, stream_);
}

static_assert(static_cast<int>(Activation::kRelu) == kActRelu &&
                  static_cast<int>(Activation::kSigmoid) == kActSigmoid &&
                  static_cast<int>(Activation::kTanh) == kActTanh,
              "launchers.h activation codes must match kernels/ops.h");

void CudaBackend::ActivationForward(Activation act, float* out,
                                    const float* inp, size_t N) {
  Activate();
  LaunchActivationForward(static_cast<int>(act), out, inp, N, stream_);
}

void CudaBackend::ActivationBackward(Activation act, float* dinp,
                                     const float* out, const float* dout,
                                     size_t N) {
  Activate();
  LaunchActivationBackward(static_cast<int>(act), dinp, out, dout, N, stream_);
}

void CudaBackend::MseLoss(float* losses, float* dpred, const float* pred,
                          const float* target, int N, int K, float dloss) {
  Activate();
  LaunchMseLoss(losses, dpred, pred, target, N, K, dloss, stream_);
}

void CudaBackend::HingeLoss(float* losses, float* dscores, const float* scores,
                            const int32_t* labels, int N, int K, float dloss) {
  Activate();
  LaunchHingeLoss(losses, dscores, scores, labels, N, K, dloss, stream_);
}

// Per-block double partials, added on the host in block order.
double CudaBackend::SumSquares(const float* x, size_t n) {
  Activate();
  if (n == 0) return 0.0;
  const int blocks = SumSquaresBlocks(n);
  auto* partials = static_cast<double*>(partials_.Get(blocks * sizeof(double)));
  LaunchSumSquaresPartials(partials, x, n, stream_);
  host_partials_.resize(blocks);
  CUDA_CHECK(cudaMemcpyAsync(host_partials_.data(), partials,
                             blocks * sizeof(double), cudaMemcpyDeviceToHost,
                             stream_));
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  double sum = 0.0;
  for (double p : host_partials_) sum += p;
  return sum;
}

void CudaBackend::Scale(float* x, float s, size_t n) {
  Activate();
  LaunchScale(x, s, n, stream_);
}

}  // namespace cuda

std::string CudaDeviceName(int device) {
  cudaDeviceProp prop;
  if (cudaGetDeviceProperties(&prop, device) != cudaSuccess) return "";
  return prop.name;
}

absl::StatusOr<std::unique_ptr<Backend>> MakeCudaBackend(int device,
                                                         bool tf32) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    return absl::UnavailableError(absl::StrCat(
        "no usable CUDA GPU: cudaGetDeviceCount: ", cudaGetErrorString(err)));
  }
  if (count == 0) return absl::UnavailableError("no CUDA GPU present");
  if (device < 0 || device >= count) {
    return absl::UnavailableError(absl::StrCat(
        "CUDA device ", device, " requested but only ", count, " present"));
  }
  cudaError_t e = cudaSetDevice(device);
  cudaStream_t stream = nullptr;
  if (e == cudaSuccess) {
    e = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
  }
  if (e != cudaSuccess) {
    return absl::UnavailableError(absl::StrCat(
        "CUDA device ", device, " unusable: ", cudaGetErrorString(e)));
  }
  cublasHandle_t blas = nullptr;
  cublasStatus_t st = cublasCreate(&blas);
  if (st == CUBLAS_STATUS_SUCCESS) st = cublasSetStream(blas, stream);
  if (st == CUBLAS_STATUS_SUCCESS) {
    st = cublasSetMathMode(
        blas, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
  }
  if (st != CUBLAS_STATUS_SUCCESS) {
    if (blas != nullptr) cublasDestroy(blas);
    cudaStreamDestroy(stream);
    return absl::UnavailableError(
        absl::StrCat("cuBLAS init failed: ", cublasGetStatusString(st)));
  }
  return std::unique_ptr<Backend>(
      std::make_unique<cuda::CudaBackend>(device, tf32, stream, blas));
}

}  // namespace pserve
