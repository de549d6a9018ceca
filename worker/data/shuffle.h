// Deterministic pseudo-random permutations: splitmix64 plus Fisher-Yates.
// The same seed gives the same permutation on every machine and compiler.
// Thread-safety: pure functions and a value type; no shared state.
#ifndef PSERVE_WORKER_DATA_SHUFFLE_H_
#define PSERVE_WORKER_DATA_SHUFFLE_H_

#include <cstdint>
#include <utility>
#include <vector>

namespace pserve {

// splitmix64 (Steele, Lea, Flood 2014): a 64-bit generator whose every
// output is a full-avalanche hash of a counter. Not thread-safe per object.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}

  // Returns the next 64-bit output. Never blocks.
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  // Returns a value uniform in [0, bound) for bound >= 1 (rejection
  // sampling, so no modulo bias). Never blocks.
  uint64_t Below(uint64_t bound) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t x;
    do {
      x = Next();
    } while (x >= limit);
    return x % bound;
  }

 private:
  uint64_t state_;
};

// Mixes two 64-bit values into one seed (used for (seed, epoch) pairs).
inline uint64_t MixSeed(uint64_t a, uint64_t b) {
  SplitMix64 g(a ^ (b * 0xD1B54A32D192ED03ull));
  g.Next();
  return g.Next();
}

// Shuffles `items` in place with Fisher-Yates driven by SplitMix64(seed).
// The result depends only on the seed and items.size().
template <typename T>
void DeterministicShuffle(std::vector<T>& items, uint64_t seed) {
  SplitMix64 rng(seed);
  for (size_t i = items.size(); i > 1; --i) {
    const size_t j = static_cast<size_t>(rng.Below(i));
    std::swap(items[i - 1], items[j]);
  }
}

}  // namespace pserve

#endif  // PSERVE_WORKER_DATA_SHUFFLE_H_
