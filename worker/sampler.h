// Next-token sampling for text generation: temperature and top-k over the
// real vocabulary, driven by a seeded generator so a seed gives the same
// text every run. Thread-safety: a Sampler is not thread-safe (it owns its
// random state); use one per thread.
#ifndef PSERVE_WORKER_SAMPLER_H_
#define PSERVE_WORKER_SAMPLER_H_

#include <cstdint>
#include <random>
#include <vector>

namespace pserve {

class Sampler {
 public:
  // top_k <= 0 keeps every token; top_k == 1 or temperature <= 0 is greedy.
  Sampler(double temperature, int top_k, uint64_t seed);

  // Picks a token id in [0, vocab) from logits[0 .. vocab). Never fails.
  int32_t Sample(const float* logits, int vocab);

 private:
  double temperature_;
  int top_k_;
  std::mt19937_64 rng_;
  std::vector<int32_t> order_;  // scratch: candidate ids
  std::vector<double> probs_;   // scratch: their weights
};

}  // namespace pserve

#endif  // PSERVE_WORKER_SAMPLER_H_
