// Fuzz target: tokenizer files (llm.c layout plus the optional merge list)
// as Tokenizer::Load reads them. Any bytes must give a tokenizer or a
// Status; a tokenizer that loads must encode and decode losslessly.
// Thread-safety: one input at a time (libFuzzer).
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <vector>

#include "third_party/fuzz_support.h"
#include "worker/data/tokenizer.h"

namespace pserve {

std::vector<std::string> FuzzSeeds() {
  std::vector<Tokenizer> tokenizers;
  tokenizers.push_back(Tokenizer::ByteLevel());
  absl::StatusOr<Tokenizer> bpe =
      Tokenizer::FromMerges({{'t', 'h'}, {256, 'e'}, {' ', 'a'}}, 0);
  if (bpe.ok()) tokenizers.push_back(*std::move(bpe));
  std::vector<std::string> seeds;
  for (const Tokenizer& t : tokenizers) {
    const std::string path = FuzzScratchDir() + "/seed.bin";
    if (!t.Save(path).ok()) continue;
    std::ifstream in(path, std::ios::binary);
    seeds.emplace_back(std::istreambuf_iterator<char>(in),
                       std::istreambuf_iterator<char>());
  }
  return seeds;
}

}  // namespace pserve

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<pserve::Tokenizer> t =
      pserve::Tokenizer::Load(pserve::WriteFuzzFile(data, size));
  if (!t.ok()) return 0;
  const std::string text = "the theme: a bat\n\x01\xff";
  if (t->Decode(t->Encode(text)) != text) std::abort();
  for (int32_t id = -1; id <= t->vocab_size(); ++id) (void)t->Decode(id);
  return 0;
}
