// The sgemm limit and flop count of ps_bench --suite=worker: one Eigen
// product of two square float matrices on a fixed number of OpenMP threads
// (the peer library, OpenBLAS, is timed in the PyTorch child, see
// torch_peer.h), and llm.c's count of training flops per token.
// Thread-safety: an EigenGemm belongs to one thread; Time() fans out over
// its own OpenMP threads. LlmcFlopsPerToken is pure.
#ifndef PSERVE_TOOLS_GEMM_LIMIT_H_
#define PSERVE_TOOLS_GEMM_LIMIT_H_

#include <vector>

#include "worker/model/gpt_config.h"

namespace pserve {

// c (n,n) = a (n,n) @ b (n,n) in float with Eigen's own multithreaded GEMM.
class EigenGemm {
 public:
  // Allocates and fills the three matrices (n >= 1, threads >= 1).
  EigenGemm(int n, int threads);

  // Seconds of one product (warm memory after the first call). Blocks.
  double Time();
  // Floating-point operations of one product: 2 n^3.
  double Flops() const { return 2.0 * n_ * n_ * n_; }

 private:
  int n_, threads_;
  std::vector<float> a_, b_, c_;  // (n,n) each, row-major
};

// llm.c's training flops per token (gpt2_estimate_mfu): 6 N + 6 L C T, with
// N every parameter (padded vocabulary rows included; the first term counts
// the weight matmuls of forward and backward) and 6 L C T the attention
// products q.k and att.v at full (not causal) length T, forward and backward.
double LlmcFlopsPerToken(const GptConfig& config, int seq_len);

}  // namespace pserve

#endif  // PSERVE_TOOLS_GEMM_LIMIT_H_
