// Temperature / top-k sampling. Not thread-safe (see sampler.h).
#include "worker/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace pserve {

Sampler::Sampler(double temperature, int top_k, uint64_t seed)
    : temperature_(temperature), top_k_(top_k), rng_(seed) {}

int32_t Sampler::Sample(const float* logits, int vocab) {
  if (top_k_ == 1 || temperature_ <= 0)
    return static_cast<int32_t>(std::max_element(logits, logits + vocab) -
                                logits);
  const int k = top_k_ <= 0 ? vocab : std::min(top_k_, vocab);
  order_.resize(vocab);
  std::iota(order_.begin(), order_.end(), 0);
  // Largest logits first; ties broken by id so the order is deterministic.
  std::partial_sort(order_.begin(), order_.begin() + k, order_.end(),
                    [logits](int32_t a, int32_t b) {
                      return logits[a] > logits[b] ||
                             (logits[a] == logits[b] && a < b);
                    });
  probs_.resize(k);
  const double top = logits[order_[0]];
  for (int i = 0; i < k; ++i)
    probs_[i] = std::exp((logits[order_[i]] - top) / temperature_);
  const double total = std::accumulate(probs_.begin(), probs_.end(), 0.0);
  double u = std::uniform_real_distribution<double>(0.0, total)(rng_);
  for (int i = 0; i < k; ++i) {
    u -= probs_[i];
    if (u <= 0) return order_[i];
  }
  return order_[k - 1];
}

}  // namespace pserve
