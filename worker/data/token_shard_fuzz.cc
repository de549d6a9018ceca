// Fuzz target: llm.c token shards as ReadTokenShard and the data loader read
// them. Any bytes must give tokens or a Status, never a crash; a shard that
// loads must batch. Thread-safety: one input at a time (libFuzzer).
#include <cstdint>
#include <fstream>
#include <iterator>
#include <vector>

#include "third_party/fuzz_support.h"
#include "worker/data/data_loader.h"
#include "worker/data/token_shard.h"

namespace pserve {

std::vector<std::string> FuzzSeeds() {
  std::vector<std::string> seeds;
  for (const std::vector<int32_t>& tokens :
       {std::vector<int32_t>{}, std::vector<int32_t>{1, 2, 3, 255, 0, 7, 9},
        std::vector<int32_t>(40, 65535)}) {
    const std::string path = FuzzScratchDir() + "/seed.bin";
    if (!WriteTokenShard(path, tokens).ok()) continue;
    std::ifstream in(path, std::ios::binary);
    seeds.emplace_back(std::istreambuf_iterator<char>(in),
                       std::istreambuf_iterator<char>());
  }
  return seeds;
}

}  // namespace pserve

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = pserve::WriteFuzzFile(data, size);
  (void)pserve::ReadTokenShard(path, 256);
  absl::StatusOr<pserve::DataLoader> loader =
      pserve::DataLoader::Open(path, 2, 3, 0, 1, 7, pserve::kMaxShardVocab);
  if (loader.ok()) {
    std::vector<int32_t> inputs(2 * 3), targets(2 * 3);  // (B, T)
    for (int step = 0; step < 3; ++step)
      loader->NextBatch(inputs.data(), targets.data());
  }
  return 0;
}
