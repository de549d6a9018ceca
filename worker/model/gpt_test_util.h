// Test helpers for the GPT model: seeded GPT-2 initialisation from the
// parameter specs and seeded token batches. Pure functions of their
// arguments: thread-safe.
#ifndef PSERVE_WORKER_MODEL_GPT_TEST_UTIL_H_
#define PSERVE_WORKER_MODEL_GPT_TEST_UTIL_H_

#include <cstdint>
#include <random>
#include <vector>

#include "worker/model/gpt_config.h"

namespace pserve {

// Every tensor initialised from its spec (normal weights with the spec's
// std, zero biases, layernorm weights 1), in the flat llm.c order, seeded.
inline std::vector<float> InitParams(const GptConfig& c, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<float> p;
  for (const TensorSpec& s : GptParameterSpecs(c)) {
    size_t n = 1;
    for (int64_t d : s.shape()) n *= d;
    std::normal_distribution<float> normal(0.0f, s.init().std());
    for (size_t i = 0; i < n; ++i) {
      if (s.init().kind() == InitRule::NORMAL) {
        p.push_back(normal(rng));
      } else {
        p.push_back(s.init().kind() == InitRule::ONES ? 1.0f : 0.0f);
      }
    }
  }
  return p;
}

// n token ids uniform in [0, V), seeded.
inline std::vector<int32_t> RandomTokens(size_t n, int V, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> dist(0, V - 1);
  std::vector<int32_t> t(n);
  for (int32_t& x : t) x = dist(rng);
  return t;
}

}  // namespace pserve

#endif  // PSERVE_WORKER_MODEL_GPT_TEST_UTIL_H_
