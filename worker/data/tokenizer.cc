// Tokenizer file I/O, encoding and decoding; see tokenizer.h.
// Thread-safety: a Tokenizer is immutable once built.
#include "worker/data/tokenizer.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <queue>

#include "absl/strings/str_cat.h"
#include "worker/data/file_util.h"

namespace pserve {
namespace {

constexpr int kHeaderWords = 256;
constexpr size_t kHeaderBytes = kHeaderWords * sizeof(uint32_t);
constexpr int kMaxVocab = 65536;
constexpr size_t kMaxTokenBytes = 255;  // The length field is one byte.
constexpr char kWhat[] = "tokenizer";

uint32_t ReadU32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

void AppendU32(std::string& out, uint32_t v) {
  char buf[sizeof(v)];
  std::memcpy(buf, &v, sizeof(v));
  out.append(buf, sizeof(v));
}

}  // namespace

Tokenizer Tokenizer::ByteLevel() {
  Tokenizer t;
  t.tokens_.reserve(256);
  for (int b = 0; b < 256; ++b) {
    t.tokens_.push_back(std::string(1, static_cast<char>(b)));
    t.byte_token_[b] = b;
  }
  t.eot_ = kByteLevelEot;
  return t;
}

absl::StatusOr<Tokenizer> Tokenizer::FromMerges(std::vector<BpeMerge> merges,
                                                int32_t eot_token) {
  if (merges.size() > static_cast<size_t>(kMaxVocab - 256)) {
    return absl::InvalidArgumentError(
        absl::StrCat("BPE with ", merges.size(), " merges exceeds the ",
                     kMaxVocab, "-token limit of uint16 token shards"));
  }
  Tokenizer t = ByteLevel();
  t.tokens_.reserve(256 + merges.size());
  t.rules_.reserve(merges.size());
  for (size_t r = 0; r < merges.size(); ++r) {
    const int32_t next_id = static_cast<int32_t>(256 + r);
    const auto [left, right] = merges[r];
    if (left < 0 || left >= next_id || right < 0 || right >= next_id) {
      return absl::InvalidArgumentError(absl::StrCat(
          "BPE merge ", r, " (", left, ", ", right,
          ") names a token that does not exist before token ", next_id));
    }
    std::string bytes = t.tokens_[left] + t.tokens_[right];
    if (bytes.size() > kMaxTokenBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "BPE merge ", r, " makes a token of ", bytes.size(),
          " bytes; the tokenizer file allows at most ", kMaxTokenBytes));
    }
    const bool inserted =
        t.rules_.emplace(PairKey(left, right), PairRule{next_id - 256, next_id})
            .second;
    if (!inserted) {
      return absl::InvalidArgumentError(
          absl::StrCat("BPE merge ", r, " (", left, ", ", right,
                       ") repeats an earlier one"));
    }
    t.tokens_.push_back(std::move(bytes));
  }
  if (eot_token < 0 || eot_token >= t.vocab_size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("eot token ", eot_token, " is outside the vocabulary [0, ",
                     t.vocab_size(), ")"));
  }
  t.eot_ = eot_token;
  t.merges_ = std::move(merges);
  return t;
}

absl::StatusOr<Tokenizer> Tokenizer::Load(const std::string& path) {
  absl::StatusOr<std::string> file = ReadWholeFile(path, kWhat);
  if (!file.ok()) return file.status();
  const std::string& data = *file;
  auto truncated = [&](absl::string_view where) {
    return absl::DataLossError(absl::StrCat("tokenizer ", path,
                                            " is truncated in ", where, " (",
                                            data.size(), " bytes)"));
  };
  if (data.size() < kHeaderBytes) return truncated("the header");
  const uint32_t magic = ReadU32(data.data());
  const uint32_t version = ReadU32(data.data() + 4);
  const uint32_t vocab = ReadU32(data.data() + 8);
  const uint32_t eot = ReadU32(data.data() + 12);
  if (magic != kTokenizerMagic) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tokenizer ", path, " has bad magic ", magic, " (expected ",
        kTokenizerMagic, "): not an llm.c tokenizer file"));
  }
  if (version != kTokenizerVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer ", path, " has wrong version ", version,
                     " (expected ", kTokenizerVersion, ")"));
  }
  if (vocab < 1 || vocab > static_cast<uint32_t>(kMaxVocab)) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer ", path,
                                                   " has vocab size ", vocab,
                                                   ", outside 1..", kMaxVocab));
  }
  if (eot >= vocab) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer ", path, " has eot token ", eot,
                     " outside its vocabulary of ", vocab));
  }
  std::vector<std::string> tokens;
  tokens.reserve(vocab);
  size_t pos = kHeaderBytes;
  for (uint32_t i = 0; i < vocab; ++i) {
    if (pos >= data.size()) return truncated(absl::StrCat("token ", i));
    const size_t len = static_cast<uint8_t>(data[pos++]);
    if (len == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("tokenizer ", path, " has an empty token ", i));
    }
    if (data.size() - pos < len) return truncated(absl::StrCat("token ", i));
    tokens.emplace_back(data, pos, len);
    pos += len;
  }

  if (pos < data.size()) {
    // A merge list written by Save.
    if (data.size() - pos < 8 || ReadU32(data.data() + pos) != kMergesMagic) {
      return absl::DataLossError(
          absl::StrCat("tokenizer ", path, " has ", data.size() - pos,
                       " unexpected bytes after its ", vocab, " tokens"));
    }
    const uint32_t count = ReadU32(data.data() + pos + 4);
    pos += 8;
    if (count + 256 != vocab) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tokenizer ", path, " lists ", count, " merges for a vocab of ",
          vocab, " (expected ", static_cast<int64_t>(vocab) - 256, ")"));
    }
    if ((data.size() - pos) != static_cast<size_t>(count) * 8) {
      return absl::DataLossError(absl::StrCat(
          "tokenizer ", path, " has a merge list of ", data.size() - pos,
          " bytes; ", count, " merges need ", static_cast<size_t>(count) * 8));
    }
    std::vector<BpeMerge> merges(count);
    for (uint32_t r = 0; r < count; ++r) {
      merges[r].first = static_cast<int32_t>(ReadU32(data.data() + pos));
      merges[r].second = static_cast<int32_t>(ReadU32(data.data() + pos + 4));
      pos += 8;
    }
    absl::StatusOr<Tokenizer> t =
        FromMerges(std::move(merges), static_cast<int32_t>(eot));
    if (!t.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("tokenizer ", path, ": ", t.status().message()));
    }
    for (uint32_t i = 0; i < vocab; ++i) {
      if (t->tokens_[i] != tokens[i]) {
        return absl::InvalidArgumentError(
            absl::StrCat("tokenizer ", path, ": token ", i,
                         "'s bytes differ from what its merge list builds"));
      }
    }
    return t;
  }

  // No merge list: derive pair rules from the token table itself. A pair of
  // adjacent tokens merges into token k when their bytes concatenate to
  // token k's; the lowest k merges first.
  Tokenizer t;
  t.tokens_ = std::move(tokens);
  t.eot_ = static_cast<int32_t>(eot);
  absl::flat_hash_map<std::string_view, int32_t> by_bytes;
  by_bytes.reserve(vocab);
  for (uint32_t i = 0; i < vocab; ++i) {
    if (static_cast<int32_t>(i) == t.eot_ && t.tokens_[i].size() > 1) continue;
    by_bytes.emplace(t.tokens_[i], static_cast<int32_t>(i));
  }
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    auto it = by_bytes.find(std::string_view(&c, 1));
    if (it == by_bytes.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("tokenizer ", path, " has no token for byte ", b,
                       ", so some text cannot be encoded"));
    }
    t.byte_token_[b] = it->second;
  }
  for (uint32_t k = 0; k < vocab; ++k) {
    const std::string_view bytes = t.tokens_[k];
    if (static_cast<int32_t>(k) == t.eot_ || bytes.size() < 2) continue;
    for (size_t cut = 1; cut < bytes.size(); ++cut) {
      auto left = by_bytes.find(bytes.substr(0, cut));
      if (left == by_bytes.end()) continue;
      auto right = by_bytes.find(bytes.substr(cut));
      if (right == by_bytes.end()) continue;
      const int32_t id = static_cast<int32_t>(k);
      t.rules_.try_emplace(PairKey(left->second, right->second),
                           PairRule{id, id});
    }
  }
  return t;
}

std::string_view Tokenizer::TokenBytes(int32_t token) const {
  if (token < 0 || token >= vocab_size()) return {};
  return tokens_[token];
}

namespace {

// Pending merges as (rank << 32 | position), smallest first: a binary heap.
class HeapQueue {
 public:
  explicit HeapQueue(std::vector<uint64_t> initial)
      : heap_(std::greater<uint64_t>(), std::move(initial)) {}
  void Push(uint64_t e) { heap_.push(e); }
  bool Pop(uint64_t& e) {
    if (heap_.empty()) return false;
    e = heap_.top();
    heap_.pop();
    return true;
  }

 private:
  std::priority_queue<uint64_t, std::vector<uint64_t>, std::greater<uint64_t>>
      heap_;
};

// The same order with one bucket per rank, for long texts. Valid only when
// every push has a rank above the one being popped, which holds for merge
// lists: a pair involving token 256 + r can only be a later merge.
class BucketQueue {
 public:
  BucketQueue(const std::vector<uint64_t>& initial, size_t ranks)
      : buckets_(ranks) {
    for (uint64_t e : initial) Push(e);
  }
  void Push(uint64_t e) {
    buckets_[e >> 32].push_back(static_cast<int32_t>(e & 0xFFFFFFFFu));
  }
  bool Pop(uint64_t& e) {
    while (rank_ < buckets_.size()) {
      std::vector<int32_t>& b = buckets_[rank_];
      if (index_ == 0 && !std::is_sorted(b.begin(), b.end())) {
        std::sort(b.begin(), b.end());
      }
      if (index_ < b.size()) {
        e = (static_cast<uint64_t>(rank_) << 32) |
            static_cast<uint32_t>(b[index_++]);
        return true;
      }
      std::vector<int32_t>().swap(b);
      ++rank_;
      index_ = 0;
    }
    return false;
  }

 private:
  std::vector<std::vector<int32_t>> buckets_;
  size_t rank_ = 0;
  size_t index_ = 0;
};

}  // namespace

std::vector<int32_t> Tokenizer::Encode(std::string_view text) const {
  const size_t n = text.size();
  std::vector<int32_t> tok(n);
  for (size_t i = 0; i < n; ++i) {
    tok[i] = byte_token_[static_cast<uint8_t>(text[i])];
  }
  if (rules_.empty() || n < 2) return tok;

  // A doubly linked list over positions; a merged-away position gets -1.
  // Pending merges come out lowest rank first, and within a rank left to
  // right, which is exactly "apply merge 0 to the whole text, then merge 1,
  // ...". Entries made stale by earlier merges are skipped.
  const int32_t end = static_cast<int32_t>(n);
  std::vector<int32_t> next(n), prev(n);
  for (int32_t i = 0; i < end; ++i) {
    next[i] = i + 1;
    prev[i] = i - 1;
  }
  auto rule_at = [&](int32_t i) -> const PairRule* {
    const int32_t j = next[i];
    if (j >= end) return nullptr;
    auto it = rules_.find(PairKey(tok[i], tok[j]));
    return it == rules_.end() ? nullptr : &it->second;
  };
  auto entry = [](const PairRule* r, int32_t i) {
    return (static_cast<uint64_t>(r->rank) << 32) | static_cast<uint32_t>(i);
  };
  std::vector<uint64_t> initial;
  initial.reserve(n);
  for (int32_t i = 0; i + 1 < end; ++i) {
    if (const PairRule* r = rule_at(i)) initial.push_back(entry(r, i));
  }
  auto run = [&](auto& queue) {
    uint64_t e;
    while (queue.Pop(e)) {
      const int32_t i = static_cast<int32_t>(e & 0xFFFFFFFFu);
      const int32_t rank = static_cast<int32_t>(e >> 32);
      if (tok[i] < 0) continue;
      const PairRule* r = rule_at(i);
      if (r == nullptr || r->rank != rank) continue;  // Stale entry.
      const int32_t j = next[i];
      tok[i] = r->result;
      tok[j] = -1;
      next[i] = next[j];
      if (next[j] < end) prev[next[j]] = i;
      if (prev[i] >= 0) {
        if (const PairRule* pr = rule_at(prev[i])) {
          queue.Push(entry(pr, prev[i]));
        }
      }
      if (const PairRule* nr = rule_at(i)) queue.Push(entry(nr, i));
    }
  };
  // Buckets pay one (empty) vector per merge, so they suit long texts.
  if (!merges_.empty() && n >= 4096 && n >= merges_.size()) {
    BucketQueue queue(initial, merges_.size());
    std::vector<uint64_t>().swap(initial);
    run(queue);
  } else {
    HeapQueue queue(std::move(initial));
    run(queue);
  }
  std::vector<int32_t> out;
  out.reserve(n);
  for (int32_t t : tok) {
    if (t >= 0) out.push_back(t);
  }
  return out;
}

std::string Tokenizer::Decode(int32_t token) const {
  return std::string(TokenBytes(token));
}

std::string Tokenizer::Decode(const std::vector<int32_t>& tokens) const {
  std::string out;
  for (int32_t t : tokens) out.append(TokenBytes(t));
  return out;
}

absl::Status Tokenizer::Save(const std::string& path) const {
  std::string out;
  AppendU32(out, kTokenizerMagic);
  AppendU32(out, kTokenizerVersion);
  AppendU32(out, static_cast<uint32_t>(vocab_size()));
  AppendU32(out, static_cast<uint32_t>(eot_));
  out.resize(kHeaderBytes, '\0');
  for (const std::string& t : tokens_) {
    out.push_back(static_cast<char>(static_cast<uint8_t>(t.size())));
    out.append(t);
  }
  if (!merges_.empty()) {
    AppendU32(out, kMergesMagic);
    AppendU32(out, static_cast<uint32_t>(merges_.size()));
    for (const auto& [left, right] : merges_) {
      AppendU32(out, static_cast<uint32_t>(left));
      AppendU32(out, static_cast<uint32_t>(right));
    }
  }
  return WriteFileAtomically(path, out, kWhat);
}

}  // namespace pserve
