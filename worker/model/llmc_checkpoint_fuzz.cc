// Fuzz target: llm.c model checkpoints as LoadCheckpoint reads them. Any
// bytes must give a model or a Status, never a crash or an allocation the
// file cannot back. Thread-safety: one input at a time (libFuzzer).
#include <cstdint>
#include <fstream>
#include <iterator>
#include <vector>

#include "third_party/fuzz_support.h"
#include "worker/model/export.h"

namespace pserve {

std::vector<std::string> FuzzSeeds() {
  std::vector<std::string> seeds;
  // Tiny models: a few KB each.
  for (const GptConfig& c :
       {GptConfig{4, 3, 128, 1, 1, 2}, GptConfig{8, 100, 128, 2, 2, 4}}) {
    std::vector<float> params(GptNumParameters(c));
    for (size_t i = 0; i < params.size(); ++i) params[i] = 0.01f * i;
    const std::string path = FuzzScratchDir() + "/seed.bin";
    if (!SaveLlmcCheckpoint(path, c, params.data()).ok()) continue;
    std::ifstream in(path, std::ios::binary);
    seeds.emplace_back(std::istreambuf_iterator<char>(in),
                       std::istreambuf_iterator<char>());
  }
  return seeds;
}

}  // namespace pserve

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)pserve::LoadCheckpoint(pserve::WriteFuzzFile(data, size));
  return 0;
}
