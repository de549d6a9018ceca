// EigenGemm and the llm.c flop count (see gemm_limit.h).
// Thread-safety: as documented in the header.
#include "tools/gemm_limit.h"

#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <random>

namespace pserve {
namespace {

using RowMatrixMap = Eigen::Map<
    Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

}  // namespace

EigenGemm::EigenGemm(int n, int threads)
    : n_(n),
      threads_(threads),
      a_(static_cast<size_t>(n) * n),
      b_(static_cast<size_t>(n) * n),
      c_(static_cast<size_t>(n) * n) {
  std::mt19937 gen(42);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (float& x : a_) x = u(gen);
  for (float& x : b_) x = u(gen);
}

double EigenGemm::Time() {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads_);
  RowMatrixMap a(a_.data(), n_, n_), b(b_.data(), n_, n_), c(c_.data(), n_, n_);
  const auto start = std::chrono::steady_clock::now();
  c.noalias() = a * b;
  const double s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  omp_set_num_threads(saved);
  return s;
}

double LlmcFlopsPerToken(const GptConfig& config, int seq_len) {
  const double n = static_cast<double>(GptNumParameters(config));
  return 6.0 * n + 6.0 * config.num_layers * config.channels *
                       static_cast<double>(seq_len);
}

}  // namespace pserve
