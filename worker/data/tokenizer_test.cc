// Tests for the tokenizer and the BPE trainer: round trips, determinism,
// agreement with a naive reference, the file layout and its faults.
// Thread-safety: single-threaded test.
#include "worker/data/tokenizer.h"

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "worker/data/bpe_trainer.h"

namespace pserve {
namespace {

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

std::string AllBytes() {
  std::string s;
  for (int b = 0; b < 256; ++b) s.push_back(static_cast<char>(b));
  return s;
}

// Random text over a small alphabet, for many repeats, overlaps and ties.
std::vector<std::string> RandomDocs(uint32_t seed, int docs, int len,
                                    const std::string& alphabet) {
  std::vector<std::string> out;
  uint32_t x = seed * 2654435761u + 1;
  for (int d = 0; d < docs; ++d) {
    std::string s;
    for (int i = 0; i < len; ++i) {
      x = x * 1664525u + 1013904223u;
      s.push_back(alphabet[(x >> 16) % alphabet.size()]);
    }
    out.push_back(s);
  }
  return out;
}

// Applies merge r to `seq` left to right.
void ApplyMerge(std::vector<int32_t>& seq, const BpeMerge& m, int32_t id) {
  std::vector<int32_t> out;
  for (size_t i = 0; i < seq.size(); ++i) {
    if (i + 1 < seq.size() && seq[i] == m.first && seq[i + 1] == m.second) {
      out.push_back(id);
      ++i;
    } else {
      out.push_back(seq[i]);
    }
  }
  seq = out;
}

// The textbook trainer: recount every pair before each merge.
std::vector<BpeMerge> NaiveTrain(const std::vector<std::string>& docs,
                                 int vocab) {
  std::vector<std::vector<int32_t>> seqs;
  for (const std::string& d : docs) {
    std::vector<int32_t> s;
    for (char c : d) s.push_back(static_cast<uint8_t>(c));
    seqs.push_back(s);
  }
  std::vector<BpeMerge> merges;
  for (int32_t id = 256; id < vocab; ++id) {
    std::map<BpeMerge, int64_t> counts;
    for (const auto& s : seqs) {
      for (size_t i = 0; i + 1 < s.size(); ++i) ++counts[{s[i], s[i + 1]}];
    }
    if (counts.empty()) break;
    BpeMerge best = counts.begin()->first;
    int64_t best_count = 0;
    for (const auto& [pair, count] : counts) {  // Ascending pair order.
      if (count > best_count) {
        best = pair;
        best_count = count;
      }
    }
    merges.push_back(best);
    for (auto& s : seqs) ApplyMerge(s, best, id);
  }
  return merges;
}

std::vector<int32_t> NaiveEncode(const std::string& text,
                                 const std::vector<BpeMerge>& merges) {
  std::vector<int32_t> seq;
  for (char c : text) seq.push_back(static_cast<uint8_t>(c));
  for (size_t r = 0; r < merges.size(); ++r) {
    ApplyMerge(seq, merges[r], static_cast<int32_t>(256 + r));
  }
  return seq;
}

TEST_CASE("byte-level tokenizer round trip", "[tokenizer]") {
  const Tokenizer t = Tokenizer::ByteLevel();
  CHECK(t.vocab_size() == 256);
  CHECK(t.eot_token() == 0);
  const std::string text = AllBytes() + "hello, world\n";
  const std::vector<int32_t> ids = t.Encode(text);
  REQUIRE(ids.size() == text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    CHECK(ids[i] == static_cast<uint8_t>(text[i]));
  }
  CHECK(t.Decode(ids) == text);
  CHECK(t.Decode(int32_t{'A'}) == "A");
  CHECK(t.Decode(int32_t{999}).empty());
  CHECK(t.Encode("").empty());
}

TEST_CASE("BPE merges in learned order with deterministic ties", "[bpe]") {
  auto t = TrainBpe({"abababab"}, 259);
  REQUIRE(t.ok());
  REQUIRE(t->merges().size() == 3);
  CHECK(t->merges()[0] == BpeMerge{'a', 'b'});
  CHECK(t->merges()[1] == BpeMerge{256, 256});
  CHECK(t->merges()[2] == BpeMerge{257, 257});
  CHECK(t->Encode("abababab") == std::vector<int32_t>{258});
  CHECK(t->Encode("ababa") == std::vector<int32_t>{257, 'a'});
  CHECK(t->TokenBytes(258) == "abababab");

  // All pairs tie at count 1: the smallest (left, right) wins.
  auto tie = TrainBpe({"dcba"}, 257);
  REQUIRE(tie.ok());
  CHECK(tie->merges()[0] == BpeMerge{'b', 'a'});
}

TEST_CASE("BPE pairs never cross documents or the eot byte", "[bpe]") {
  auto t = TrainBpe({"ab", "ab", std::string("b\0a", 3), "ba"}, 258);
  REQUIRE(t.ok());
  CHECK(t->merges()[0] == BpeMerge{'a', 'b'});
  CHECK(t->merges()[1] == BpeMerge{'b', 'a'});  // Only from "ba".
  auto none = TrainBpe({"a", std::string("a\0a", 3)}, 257);
  CHECK(none.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(std::string(none.status().message()).find("vocab size <= 256") !=
        std::string::npos);
}

TEST_CASE("BPE trainer and encoder match the naive reference", "[bpe]") {
  for (uint32_t seed = 1; seed <= 6; ++seed) {
    const std::string alphabet = seed % 2 ? "ab" : "abc d\n";
    const auto docs = RandomDocs(seed, 5, 200, alphabet);
    const int vocab = 256 + 60;
    auto t = TrainBpe(docs, vocab);
    REQUIRE(t.ok());
    CHECK(t->vocab_size() == vocab);
    const std::vector<BpeMerge> expected = NaiveTrain(docs, vocab);
    CHECK(t->merges() == expected);
    for (const std::string& d : docs) {
      CHECK(t->Encode(d) == NaiveEncode(d, expected));
      CHECK(t->Decode(t->Encode(d)) == d);
    }
  }
}

TEST_CASE("long texts (bucketed encoder) match the naive reference", "[bpe]") {
  const auto docs = RandomDocs(11, 3, 3000, "abc de\n");
  auto t = TrainBpe(docs, 256 + 80);
  REQUIRE(t.ok());
  const std::string text = docs[0] + docs[1] + docs[2];
  const std::vector<int32_t> ids = t->Encode(text);
  CHECK(ids == NaiveEncode(text, t->merges()));
  CHECK(t->Decode(ids) == text);
}

TEST_CASE("BPE round trip, determinism and vocab size", "[bpe]") {
  std::vector<std::string> docs;
  for (int i = 0; i < 50; ++i) {
    docs.push_back("The quick brown fox " + std::to_string(i) +
                   " jumps over the lazy dog. Pack my box with five dozen "
                   "liquor jugs.\n");
  }
  auto a = TrainBpe(docs, 350);
  auto b = TrainBpe(docs, 350);
  INFO(a.status().ToString());
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->vocab_size() == 350);
  CHECK(a->merges() == b->merges());
  const std::string unseen = "Zebras quickly jump over 42 boxes\n" + AllBytes();
  for (const std::string& text : {docs[3], unseen}) {
    const std::vector<int32_t> ids = a->Encode(text);
    CHECK(ids == b->Encode(text));
    CHECK(a->Decode(ids) == text);
    for (int32_t id : ids) CHECK((id >= 0 && id < 350));
  }
  CHECK(a->Encode(docs[3]).size() < docs[3].size() / 3);
  CHECK(TrainBpe(docs, 256).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(TrainBpe(docs, 70000).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("BPE tokens stay within the file's 255-byte limit", "[bpe]") {
  // a, aa, ..., 128 a's: the 256-byte token would not fit, so the text
  // allows 7 merges only.
  auto over = TrainBpe({std::string(4096, 'a')}, 264);
  CHECK(over.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(std::string(over.status().message()).find("vocab size <= 263") !=
        std::string::npos);
  auto t = TrainBpe({std::string(4096, 'a')}, 263);
  REQUIRE(t.ok());
  CHECK(t->TokenBytes(262) == std::string(128, 'a'));
  for (int id = 0; id < t->vocab_size(); ++id) {
    CHECK(t->TokenBytes(id).size() <= 255);
  }
  CHECK(t->Decode(t->Encode(std::string(4096, 'a'))) == std::string(4096, 'a'));
}

TEST_CASE("tokenizer file round trip", "[tokenizer]") {
  SECTION("byte-level") {
    const std::string path = TempPath("byte.tok");
    REQUIRE(Tokenizer::ByteLevel().Save(path).ok());
    auto t = Tokenizer::Load(path);
    REQUIRE(t.ok());
    CHECK(t->vocab_size() == 256);
    CHECK(t->eot_token() == 0);
    CHECK(t->merges().empty());
    CHECK(t->Encode("xyz") == std::vector<int32_t>{'x', 'y', 'z'});
  }
  SECTION("BPE, with its merge list") {
    const auto docs = RandomDocs(9, 4, 300, "abc de\n");
    auto trained = TrainBpe(docs, 300);
    REQUIRE(trained.ok());
    const std::string path = TempPath("bpe.tok");
    REQUIRE(trained->Save(path).ok());
    auto t = Tokenizer::Load(path);
    REQUIRE(t.ok());
    CHECK(t->vocab_size() == 300);
    CHECK(t->merges() == trained->merges());
    for (int id = 0; id < 300; ++id) {
      CHECK(t->TokenBytes(id) == trained->TokenBytes(id));
    }
    for (const std::string& d : docs) CHECK(t->Encode(d) == trained->Encode(d));
  }
}

// Writes an llm.c tokenizer file with the given tokens and no merge list.
void WriteLlmcTokenizer(const std::string& path, uint32_t magic,
                        uint32_t version, const std::vector<std::string>& toks,
                        uint32_t eot, size_t drop_tail = 0) {
  std::string data(1024, '\0');
  const uint32_t h[4] = {magic, version, static_cast<uint32_t>(toks.size()),
                         eot};
  std::memcpy(data.data(), h, sizeof(h));
  for (const std::string& t : toks) {
    data.push_back(static_cast<char>(t.size()));
    data += t;
  }
  data.resize(data.size() - drop_tail);
  FILE* f = std::fopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  std::fwrite(data.data(), 1, data.size(), f);
  std::fclose(f);
}

TEST_CASE("an llm.c tokenizer without merges loads (GPT-2 style)",
          "[tokenizer]") {
  // Bytes in a shuffled order, then multi-byte tokens by rank, then eot.
  std::vector<std::string> toks;
  for (int b = 255; b >= 0; --b) toks.push_back(std::string(1, char(b)));
  for (const char* s : {"th", "he", "the", " the", "<|endoftext|>"}) {
    toks.push_back(s);
  }
  const std::string path = TempPath("gpt2_style.tok");
  WriteLlmcTokenizer(path, 20240328, 2, toks, 260);
  auto t = Tokenizer::Load(path);
  REQUIRE(t.ok());
  CHECK(t->vocab_size() == 261);
  CHECK(t->eot_token() == 260);
  // " the" -> ' ' + "th" (rank 256) + 'e' -> ' ' + "the" (258) -> 259.
  CHECK(t->Encode(" the") == std::vector<int32_t>{259});
  CHECK(t->Encode("he") == std::vector<int32_t>{257});
  CHECK(t->Encode("a") == std::vector<int32_t>{255 - 'a'});
  CHECK(t->Decode(t->Encode("<|endoftext|> the")) == "<|endoftext|> the");
  CHECK(t->Decode(260) == "<|endoftext|>");
}

TEST_CASE("tokenizer file faults", "[tokenizer]") {
  std::vector<std::string> bytes;
  for (int b = 0; b < 256; ++b) bytes.push_back(std::string(1, char(b)));
  auto check = [](const std::string& path, absl::StatusCode code,
                  const std::string& fault) {
    const absl::Status s = Tokenizer::Load(path).status();
    INFO(s.ToString());
    CHECK(s.code() == code);
    const std::string msg(s.message());
    CHECK(msg.find('\n') == std::string::npos);
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find(fault) != std::string::npos);
  };
  const std::string path = TempPath("bad.tok");
  SECTION("missing") {
    check(TempPath("nope.tok"), absl::StatusCode::kNotFound, "No such file");
  }
  SECTION("bad magic") {
    WriteLlmcTokenizer(path, 20240520, 2, bytes, 0);
    check(path, absl::StatusCode::kInvalidArgument, "bad magic 20240520");
  }
  SECTION("wrong version") {
    WriteLlmcTokenizer(path, 20240328, 3, bytes, 0);
    check(path, absl::StatusCode::kInvalidArgument, "wrong version 3");
  }
  SECTION("truncated") {
    WriteLlmcTokenizer(path, 20240328, 2, bytes, 0, 1);
    check(path, absl::StatusCode::kDataLoss, "truncated in token 255");
  }
  SECTION("eot outside the vocabulary") {
    WriteLlmcTokenizer(path, 20240328, 2, bytes, 256);
    check(path, absl::StatusCode::kInvalidArgument, "eot token 256");
  }
  SECTION("a byte with no token") {
    std::vector<std::string> some(bytes.begin(), bytes.begin() + 200);
    WriteLlmcTokenizer(path, 20240328, 2, some, 0);
    check(path, absl::StatusCode::kInvalidArgument, "no token for byte 200");
  }
}

}  // namespace
}  // namespace pserve
