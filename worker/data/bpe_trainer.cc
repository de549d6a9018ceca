// Byte-level BPE trainer; see bpe_trainer.h. The text is one array of
// tokens with a doubly linked list over the live positions; per pair we
// keep its exact count and the positions where it was ever created, and a
// lazy max-heap finds the next merge. Thread-safety: no shared state.
#include "worker/data/bpe_trainer.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <queue>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "worker/data/token_shard.h"

namespace pserve {
namespace {

constexpr size_t kMaxTokenBytes = 255;

uint32_t Key(int32_t left, int32_t right) {
  return (static_cast<uint32_t>(left) << 16) | static_cast<uint32_t>(right);
}

struct HeapEntry {
  int64_t count;
  uint32_t key;
};

// Orders the heap so its top is the largest count, then the smallest key.
struct HeapLess {
  bool operator()(const HeapEntry& a, const HeapEntry& b) const {
    if (a.count != b.count) return a.count < b.count;
    return a.key > b.key;
  }
};

class Trainer {
 public:
  explicit Trainer(const std::vector<std::string>& docs) {
    size_t total = 0;
    for (const std::string& d : docs) total += d.size();
    tok_.reserve(total);
    next_.reserve(total);
    prev_.reserve(total);
    for (const std::string& d : docs) {
      for (size_t k = 0; k < d.size(); ++k) {
        const int32_t t = static_cast<uint8_t>(d[k]);
        const int32_t i = static_cast<int32_t>(tok_.size());
        // Links stop at document ends and around the eot byte.
        const bool linked =
            k > 0 && t != kByteLevelEot && tok_.back() != kByteLevelEot;
        tok_.push_back(t);
        prev_.push_back(linked ? i - 1 : -1);
        next_.push_back(-1);
        if (linked) next_[i - 1] = i;
      }
    }
    for (int32_t i = 0; i < static_cast<int32_t>(tok_.size()); ++i) {
      if (next_[i] >= 0) Add(Key(tok_[i], tok_[next_[i]]), i);
    }
    for (int b = 0; b < 256; ++b) length_.push_back(1);
    std::vector<HeapEntry> entries;
    entries.reserve(counts_.size());
    for (const auto& [key, count] : counts_) entries.push_back({count, key});
    heap_ = decltype(heap_)(HeapLess(), std::move(entries));
  }

  // Runs merges until the vocabulary has `vocab_size` tokens or no pair is
  // left; returns the merges made.
  std::vector<BpeMerge> Run(int vocab_size) {
    std::vector<BpeMerge> merges;
    while (static_cast<int>(length_.size()) < vocab_size && !heap_.empty()) {
      const HeapEntry top = heap_.top();
      heap_.pop();
      auto it = counts_.find(top.key);
      const int64_t current = it == counts_.end() ? 0 : it->second;
      if (current != top.count) {  // Stale: the count only went down.
        if (current > 0) heap_.push({current, top.key});
        continue;
      }
      const int32_t left = static_cast<int32_t>(top.key >> 16);
      const int32_t right = static_cast<int32_t>(top.key & 0xFFFFu);
      if (length_[left] + length_[right] > kMaxTokenBytes) continue;
      merges.emplace_back(left, right);
      Merge(top.key, left, right, static_cast<int32_t>(length_.size()));
      length_.push_back(length_[left] + length_[right]);
    }
    return merges;
  }

 private:
  void Add(uint32_t key, int32_t pos) {
    ++counts_[key];
    where_[key].push_back(pos);
  }

  void Remove(uint32_t key) {
    auto it = counts_.find(key);
    if (it != counts_.end() && --it->second == 0) counts_.erase(it);
  }

  // Replaces every live (left, right) at the recorded positions, left to
  // right, with `merged`, updating neighbouring pair counts.
  void Merge(uint32_t key, int32_t left, int32_t right, int32_t merged) {
    std::vector<int32_t> positions = std::move(where_[key]);
    where_.erase(key);
    if (!std::is_sorted(positions.begin(), positions.end())) {
      std::sort(positions.begin(), positions.end());
    }
    std::vector<uint32_t> created;
    for (const int32_t i : positions) {
      if (tok_[i] != left) continue;
      const int32_t j = next_[i];
      if (j < 0 || tok_[j] != right) continue;
      const int32_t p = prev_[i];
      const int32_t n = next_[j];
      if (p >= 0) Remove(Key(tok_[p], left));
      Remove(key);
      if (n >= 0) Remove(Key(right, tok_[n]));
      tok_[i] = merged;
      tok_[j] = -1;
      next_[i] = n;
      if (n >= 0) prev_[n] = i;
      if (p >= 0) {
        created.push_back(Key(tok_[p], merged));
        Add(created.back(), p);
      }
      if (n >= 0) {
        created.push_back(Key(merged, tok_[n]));
        Add(created.back(), i);
      }
    }
    std::sort(created.begin(), created.end());
    created.erase(std::unique(created.begin(), created.end()), created.end());
    for (const uint32_t k : created) {
      auto it = counts_.find(k);
      if (it != counts_.end()) heap_.push({it->second, k});
    }
  }

  std::vector<int32_t> tok_;                       // -1 where merged away.
  std::vector<int32_t> next_;                      // -1 at a document end.
  std::vector<int32_t> prev_;                      // -1 at a document start.
  std::vector<size_t> length_;                     // Bytes per token id.
  absl::flat_hash_map<uint32_t, int64_t> counts_;  // Only counts > 0.
  absl::flat_hash_map<uint32_t, std::vector<int32_t>> where_;
  std::priority_queue<HeapEntry, std::vector<HeapEntry>, HeapLess> heap_;
};

}  // namespace

absl::StatusOr<Tokenizer> TrainBpe(const std::vector<std::string>& docs,
                                   int vocab_size) {
  if (vocab_size <= 256 || vocab_size > kMaxShardVocab) {
    return absl::InvalidArgumentError(
        absl::StrCat("BPE vocab size ", vocab_size,
                     " is outside 257..65536 (256 is plain byte-level)"));
  }
  size_t total = 0;
  for (const std::string& d : docs) total += d.size();
  if (total > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return absl::InvalidArgumentError(
        absl::StrCat("BPE training text of ", total,
                     " bytes exceeds 2^31-1; train on a sample"));
  }
  Trainer trainer(docs);
  std::vector<BpeMerge> merges = trainer.Run(vocab_size);
  if (static_cast<int>(merges.size()) + 256 < vocab_size) {
    return absl::FailedPreconditionError(absl::StrCat(
        "BPE training text (", total, " bytes) runs out of pairs after ",
        merges.size(), " merges; use a vocab size <= ", 256 + merges.size(),
        " or more text"));
  }
  return Tokenizer::FromMerges(std::move(merges), kByteLevelEot);
}

}  // namespace pserve
