// The CUDA Backend (kernels/ops.h): custom kernels (launchers.h) plus cuBLAS
// for matmuls and attention's batched products, all on one stream.
// Thread-safety: like every Backend, one caller thread at a time; each
// public op first makes this backend's device current on the calling thread.
#ifndef PSERVE_KERNELS_CUDA_CUDA_BACKEND_H_
#define PSERVE_KERNELS_CUDA_CUDA_BACKEND_H_

#include <cublas_api.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/ops.h"

namespace pserve::cuda {

// A device buffer that grows to the largest size requested and is reused.
// Growing frees the old buffer (cudaFree waits for the device to go idle).
class DeviceScratch {
 public:
  DeviceScratch() = default;
  DeviceScratch(const DeviceScratch&) = delete;
  DeviceScratch& operator=(const DeviceScratch&) = delete;
  ~DeviceScratch();
  void* Get(size_t bytes);

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

class CudaBackend final : public Backend {
 public:
  // Takes ownership of `stream` and `blas` (created on `device`).
  CudaBackend(int device, bool tf32, cudaStream_t stream, cublasHandle_t blas);
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  std::string Name() const override { return "cuda"; }

  float* Alloc(size_t n) override;
  int32_t* AllocInt(size_t n) override;
  void Free(void* p) override;
  void Zero(float* p, size_t n) override;
  void CopyFromHost(float* dst, const float* src, size_t n) override;
  void CopyIntFromHost(int32_t* dst, const int32_t* src, size_t n) override;
  void CopyToHost(float* dst, const float* src, size_t n) override;
  void Synchronize() override;

  void EncoderForward(float* out, const int32_t* inp, const float* wte,
                      const float* wpe, int B, int T, int C) override;
  void EncoderBackward(float* dwte, float* dwpe, const float* dout,
                       const int32_t* inp, int B, int T, int C) override;
  void LayerNormForward(float* out, float* mean, float* rstd, const float* inp,
                        const float* weight, const float* bias, int N,
                        int C) override;
  void LayerNormBackward(float* dinp, float* dweight, float* dbias,
                         const float* dout, const float* inp,
                         const float* weight, const float* mean,
                         const float* rstd, int N, int C) override;
  // cuda_blas.cc
  void MatmulForward(float* out, const float* inp, const float* weight,
                     const float* bias, int N, int C, int OC) override;
  void MatmulBackward(float* dinp, float* dweight, float* dbias,
                      const float* dout, const float* inp, const float* weight,
                      int N, int C, int OC) override;
  void AttentionForward(float* out, float* att, const float* qkv, int B, int T,
                        int C, int NH) override;
  void AttentionBackward(float* dqkv, float* datt, const float* dout,
                         const float* qkv, const float* att, int B, int T,
                         int C, int NH) override;

  void GeluForward(float* out, const float* inp, size_t N) override;
  void GeluBackward(float* dinp, const float* inp, const float* dout,
                    size_t N) override;
  void ResidualForward(float* out, const float* a, const float* b,
                       size_t N) override;
  void ResidualBackward(float* da, float* db, const float* dout,
                        size_t N) override;
  void SoftmaxCrossEntropy(float* losses, float* dlogits, const float* logits,
                           const int32_t* targets, int B, int T, int V, int Vp,
                           float dloss) override;
  // dense.cu
  void ActivationForward(Activation act, float* out, const float* inp,
                         size_t N) override;
  void ActivationBackward(Activation act, float* dinp, const float* out,
                          const float* dout, size_t N) override;
  void MseLoss(float* losses, float* dpred, const float* pred,
               const float* target, int N, int K, float dloss) override;
  void HingeLoss(float* losses, float* dscores, const float* scores,
                 const int32_t* labels, int N, int K, float dloss) override;
  double SumSquares(const float* x, size_t n) override;
  void Scale(float* x, float s, size_t n) override;

 private:
  // Makes device_ current on the calling thread.
  void Activate();
  // Column-major C (m,n) = alpha * op(A) (m,k) * op(B) (k,n) + beta * C,
  // `batch` times with the given element strides (cuda_blas.cc).
  void Gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha,
            const float* a, int lda, long long stride_a, const float* b,
            int ldb, long long stride_b, float beta, float* c, int ldc,
            long long stride_c, int batch);

  const int device_;
  const bool tf32_;
  cudaStream_t stream_;
  cublasHandle_t blas_;
  DeviceScratch partials_;  // column-sum and sum-of-squares partials
  DeviceScratch buckets_;   // encoder backward: tokens, offsets, positions
  // Host staging for the encoder backward buckets (B*T ints each).
  std::vector<int32_t> host_inp_, host_buckets_, host_tokens_;
  std::vector<double> host_partials_;
};

}  // namespace pserve::cuda

#endif  // PSERVE_KERNELS_CUDA_CUDA_BACKEND_H_
