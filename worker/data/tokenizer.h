// Byte-level tokenizer with optional byte-level BPE merges, stored in
// llm.c's tokenizer file layout (magic 20240328, version 2).
// Thread-safety: a Tokenizer is immutable after construction; all const
// methods may be called concurrently from any number of threads.
#ifndef PSERVE_WORKER_DATA_TOKENIZER_H_
#define PSERVE_WORKER_DATA_TOKENIZER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace pserve {

inline constexpr uint32_t kTokenizerMagic = 20240328;
inline constexpr uint32_t kTokenizerVersion = 2;
// Marks the optional merge list that follows the token table (see Save).
inline constexpr uint32_t kMergesMagic = 0x4752454D;  // "MERG" on disk.

// Token ids 0..255 are the bytes 0..255 for the tokenizers this project
// builds. The end-of-text token is byte 0 (NUL): text files that contain a
// NUL are skipped as binary by ps_prepare, so id 0 never occurs inside a
// document and separates documents in the token stream (llm.c convention:
// one EOT before each document).
inline constexpr int32_t kByteLevelEot = 0;

// A merge (left, right) of the BPE: merge r creates token 256 + r whose
// bytes are the bytes of `left` followed by those of `right`.
using BpeMerge = std::pair<int32_t, int32_t>;

class Tokenizer {
 public:
  // Loads an llm.c tokenizer file: a header of 256 uint32 (magic 20240328,
  // version 2, vocab_size, eot_token), then per token a uint8 length and
  // that many bytes. An optional merge list may follow (written by Save for
  // BPE tokenizers; llm.c ignores it). Without one, encoding merges adjacent
  // tokens whose concatenation is a token, lowest id first (how GPT-2's
  // ranks work), so llm.c's gpt2_tokenizer.bin loads too.
  // Returns NOT_FOUND (missing file), INVALID_ARGUMENT (bad magic, wrong
  // version, vocab size or eot out of range, empty token, inconsistent
  // merge, a byte with no single-byte token) or DATA_LOSS (truncated);
  // every message is one line naming the file. Blocks on disk I/O.
  static absl::StatusOr<Tokenizer> Load(const std::string& path);

  // The 256-token byte-level tokenizer: token i is byte i; eot is 0.
  static Tokenizer ByteLevel();

  // A BPE tokenizer from merges in learned order (what TrainBpe returns).
  // Returns INVALID_ARGUMENT if a merge names a token that does not exist
  // yet, if eot is not a valid id, or if 256 + merges.size() > 65536.
  static absl::StatusOr<Tokenizer> FromMerges(std::vector<BpeMerge> merges,
                                              int32_t eot_token);

  Tokenizer(Tokenizer&&) = default;
  Tokenizer& operator=(Tokenizer&&) = default;
  Tokenizer(const Tokenizer&) = default;
  Tokenizer& operator=(const Tokenizer&) = default;

  // Accessors below never fail and never block.
  // Number of tokens (ids are 0..vocab_size()-1).
  int vocab_size() const { return static_cast<int>(tokens_.size()); }
  // The end-of-text id that separates documents in token shards.
  int32_t eot_token() const { return eot_; }
  // The merges in learned order; empty for byte-level and for files loaded
  // without a merge list.
  const std::vector<BpeMerge>& merges() const { return merges_; }
  // The bytes of `token`; empty if the id is out of range.
  std::string_view TokenBytes(int32_t token) const;

  // Encodes `text` by applying the merges in order (each one left to right
  // over the whole text). Every byte gets a token, so
  // Decode(Encode(text)) == text for any bytes. Never fails, never blocks;
  // O(n log n) in the text length.
  std::vector<int32_t> Encode(std::string_view text) const;

  // The bytes of one token, or of a sequence concatenated. Ids outside
  // [0, vocab_size) decode to nothing.
  std::string Decode(int32_t token) const;
  std::string Decode(const std::vector<int32_t>& tokens) const;

  // Writes the tokenizer file (llm.c layout) atomically, plus the merge list
  // when there is one: uint32 kMergesMagic, uint32 count, then count pairs
  // of int32 (left, right). Returns INTERNAL / NOT_FOUND /
  // PERMISSION_DENIED on I/O errors (one line naming the file). Blocks on
  // disk I/O.
  absl::Status Save(const std::string& path) const;

 private:
  struct PairRule {
    int32_t rank;    // Lower merges first.
    int32_t result;  // The token the pair becomes.
  };

  Tokenizer() = default;
  static uint32_t PairKey(int32_t left, int32_t right) {
    return (static_cast<uint32_t>(left) << 16) | static_cast<uint32_t>(right);
  }

  std::vector<std::string> tokens_;
  std::vector<BpeMerge> merges_;
  int32_t eot_ = kByteLevelEot;
  int32_t byte_token_[256] = {};
  // Adjacent pair (PairKey) -> what it merges into; empty for byte-level.
  absl::flat_hash_map<uint32_t, PairRule> rules_;
};

}  // namespace pserve

#endif  // PSERVE_WORKER_DATA_TOKENIZER_H_
