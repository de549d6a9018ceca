// The cuBLAS part of the CUDA Backend: matmul forward/backward and the
// batched Q K^T and att V products of causal attention (fp32 compute, or
// TF32 tensor cores when the backend was made with tf32). cuBLAS is
// column-major: a row-major (R, K) matrix with row stride ld is, to cuBLAS,
// the column-major (K, R) matrix with leading dimension ld.
// Thread-safety: one caller thread at a time per backend (see ops.h).
#include <cublas_v2.h>

#include <cmath>

#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launchers.h"

namespace pserve::cuda {

void CudaBackend::Gemm(bool trans_a, bool trans_b, int m, int n, int k,
                       float alpha, const float* a, int lda, long long stride_a,
                       const float* b, int ldb, long long stride_b, float beta,
                       float* c, int ldc, long long stride_c, int batch) {
  if (m == 0 || n == 0 || batch == 0) return;
  const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasComputeType_t compute =
      tf32_ ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  if (batch == 1) {
    CUBLAS_CHECK(cublasGemmEx(blas_, op_a, op_b, m, n, k, &alpha, a, CUDA_R_32F,
                              lda, b, CUDA_R_32F, ldb, &beta, c, CUDA_R_32F,
                              ldc, compute, CUBLAS_GEMM_DEFAULT));
  } else {
    CUBLAS_CHECK(cublasGemmStridedBatchedEx(
        blas_, op_a, op_b, m, n, k, &alpha, a, CUDA_R_32F, lda, stride_a, b,
        CUDA_R_32F, ldb, stride_b, &beta, c, CUDA_R_32F, ldc, stride_c, batch,
        compute, CUBLAS_GEMM_DEFAULT));
  }
}

// out (N,OC) = inp (N,C) @ weight^T: column-major out^T = W^T' * inp^T where
// weight (OC,C) is the column-major (C,OC) matrix, transposed.
void CudaBackend::MatmulForward(float* out, const float* inp,
                                const float* weight, const float* bias, int N,
                                int C, int OC) {
  Activate();
  Gemm(true, false, OC, N, C, 1.0f, weight, C, 0, inp, C, 0, 0.0f, out, OC, 0,
       1);
  if (bias != nullptr) LaunchAddBias(out, bias, N, OC, stream_);
}

void CudaBackend::MatmulBackward(float* dinp, float* dweight, float* dbias,
                                 const float* dout, const float* inp,
                                 const float* weight, int N, int C, int OC) {
  Activate();
  // dinp (N,C) += dout (N,OC) @ weight (OC,C).
  if (dinp != nullptr) {
    Gemm(false, false, C, N, OC, 1.0f, weight, C, 0, dout, OC, 0, 1.0f, dinp, C,
         0, 1);
  }
  // dweight (OC,C) += dout^T (OC,N) @ inp (N,C).
  if (dweight != nullptr) {
    Gemm(false, true, C, OC, N, 1.0f, inp, C, 0, dout, OC, 0, 1.0f, dweight, C,
         0, 1);
  }
  if (dbias != nullptr && N > 0) {
    const int chunks = ColumnChunks(N);
    auto* partials = static_cast<float*>(
        partials_.Get(static_cast<size_t>(chunks) * OC * sizeof(float)));
    LaunchColumnSumPartials(partials, dout, N, OC, stream_);
    LaunchFinishColumnSums(dbias, nullptr, partials, chunks, OC, stream_);
  }
}

// Per batch row b, one strided-batched call over the NH heads: head h's
// q, k, v are (T, hs) slices of qkv (B,T,3C) with row stride 3C at column
// offsets h*hs, C + h*hs, 2C + h*hs; its att block is (T,T) at (b*NH+h)*T*T.
void CudaBackend::AttentionForward(float* out, float* att, const float* qkv,
                                   int B, int T, int C, int NH) {
  Activate();
  const int hs = C / NH;
  const int C3 = 3 * C;
  const long long TT = static_cast<long long>(T) * T;
  for (int b = 0; b < B; ++b) {
    const float* q = qkv + static_cast<size_t>(b) * T * C3;
    const float* k = q + C;
    // preatt (T,T) = q @ k^T, i.e. column-major preatt^T = k^T' q^T.
    Gemm(true, false, T, T, hs, 1.0f, k, C3, hs, q, C3, hs, 0.0f,
         att + b * NH * TT, T, TT, NH);
  }
  LaunchCausalSoftmaxForward(att, B * NH * T, T,
                             1.0f / std::sqrt(static_cast<float>(hs)), stream_);
  for (int b = 0; b < B; ++b) {
    const float* v = qkv + static_cast<size_t>(b) * T * C3 + 2 * C;
    // out (T,hs) = att (T,T) @ v (T,hs): column-major out^T = v^T att^T.
    Gemm(false, false, hs, T, T, 1.0f, v, C3, hs, att + b * NH * TT, T, TT,
         0.0f, out + static_cast<size_t>(b) * T * C, C, hs, NH);
  }
}

void CudaBackend::AttentionBackward(float* dqkv, float* datt, const float* dout,
                                    const float* qkv, const float* att, int B,
                                    int T, int C, int NH) {
  Activate();
  const int hs = C / NH;
  const int C3 = 3 * C;
  const long long TT = static_cast<long long>(T) * T;
  for (int b = 0; b < B; ++b) {
    const float* v = qkv + static_cast<size_t>(b) * T * C3 + 2 * C;
    const float* dout_b = dout + static_cast<size_t>(b) * T * C;
    float* dv = dqkv + static_cast<size_t>(b) * T * C3 + 2 * C;
    // datt (T,T) = dout (T,hs) @ v^T: column-major datt^T = v^T' dout^T.
    Gemm(true, false, T, T, hs, 1.0f, v, C3, hs, dout_b, C, hs, 0.0f,
         datt + b * NH * TT, T, TT, NH);
    // dv (T,hs) += att^T @ dout: column-major dv^T = dout^T att.
    Gemm(false, true, hs, T, T, 1.0f, dout_b, C, hs, att + b * NH * TT, T, TT,
         1.0f, dv, C3, hs, NH);
  }
  LaunchCausalSoftmaxBackward(datt, att, B * NH * T, T,
                              1.0f / std::sqrt(static_cast<float>(hs)),
                              stream_);
  for (int b = 0; b < B; ++b) {
    const float* q = qkv + static_cast<size_t>(b) * T * C3;
    const float* k = q + C;
    float* dq = dqkv + static_cast<size_t>(b) * T * C3;
    float* dk = dq + C;
    const float* dpre = datt + b * NH * TT;
    // dq (T,hs) += dpre (T,T) @ k: column-major dq^T = k^T dpre^T.
    Gemm(false, false, hs, T, T, 1.0f, k, C3, hs, dpre, T, TT, 1.0f, dq, C3, hs,
         NH);
    // dk (T,hs) += dpre^T @ q: column-major dk^T = q^T dpre.
    Gemm(false, true, hs, T, T, 1.0f, q, C3, hs, dpre, T, TT, 1.0f, dk, C3, hs,
         NH);
  }
}

}  // namespace pserve::cuda
