// llm.c token shard reader and writer; see token_shard.h.
// Thread-safety: no shared state.
#include "worker/data/token_shard.h"

#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "worker/data/file_util.h"

namespace pserve {
namespace {

constexpr size_t kHeaderBytes = kTokenShardHeaderInts * sizeof(int32_t);
constexpr char kWhat[] = "token shard";

}  // namespace

absl::Status WriteTokenShard(const std::string& path,
                             const std::vector<int32_t>& tokens) {
  if (tokens.size() >
      static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot write token shard ", path, ": ", tokens.size(),
                     " tokens exceed the format's limit of 2^31-1; split the "
                     "data into several shards"));
  }
  std::string data(kHeaderBytes + tokens.size() * sizeof(uint16_t), '\0');
  int32_t header[kTokenShardHeaderInts] = {};
  header[0] = kTokenShardMagic;
  header[1] = kTokenShardVersion;
  header[2] = static_cast<int32_t>(tokens.size());
  std::memcpy(data.data(), header, kHeaderBytes);
  char* out = data.data() + kHeaderBytes;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const int32_t t = tokens[i];
    if (t < 0 || t >= kMaxShardVocab) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot write token shard ", path, ": token ", t, " at index ", i,
          " does not fit in uint16 (valid range 0..65535)"));
    }
    const uint16_t v = static_cast<uint16_t>(t);
    std::memcpy(out + i * sizeof(uint16_t), &v, sizeof(v));
  }
  return WriteFileAtomically(path, data, kWhat);
}

absl::StatusOr<std::vector<uint16_t>> ReadTokenShard(const std::string& path,
                                                     int vocab_size) {
  if (vocab_size < 1 || vocab_size > kMaxShardVocab) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read token shard ", path, ": vocab size ",
                     vocab_size, " is outside 1..", kMaxShardVocab));
  }
  absl::StatusOr<std::string> data = ReadWholeFile(path, kWhat);
  if (!data.ok()) return data.status();
  if (data->size() < kHeaderBytes) {
    return absl::DataLossError(absl::StrCat(
        "token shard ", path, " is truncated: ", data->size(),
        " bytes, shorter than the ", kHeaderBytes, "-byte header"));
  }
  int32_t header[kTokenShardHeaderInts];
  std::memcpy(header, data->data(), kHeaderBytes);
  if (header[0] != kTokenShardMagic) {
    return absl::InvalidArgumentError(absl::StrCat(
        "token shard ", path, " has bad magic ", header[0], " (expected ",
        kTokenShardMagic, "): not an llm.c token shard"));
  }
  if (header[1] != kTokenShardVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("token shard ", path, " has wrong version ", header[1],
                     " (expected ", kTokenShardVersion, ")"));
  }
  if (header[2] < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "token shard ", path, " has a negative token count ", header[2]));
  }
  const size_t count = static_cast<size_t>(header[2]);
  const size_t body = data->size() - kHeaderBytes;
  if (body < count * sizeof(uint16_t)) {
    return absl::DataLossError(
        absl::StrCat("token shard ", path, " is truncated: header says ", count,
                     " tokens but the file holds ", body / sizeof(uint16_t)));
  }
  if (body > count * sizeof(uint16_t)) {
    return absl::DataLossError(absl::StrCat(
        "token shard ", path, " has ", body - count * sizeof(uint16_t),
        " bytes after the ", count, " tokens its header declares"));
  }
  std::vector<uint16_t> tokens(count);
  if (count > 0) {
    std::memcpy(tokens.data(), data->data() + kHeaderBytes,
                count * sizeof(uint16_t));
  }
  for (size_t i = 0; i < count; ++i) {
    if (tokens[i] >= vocab_size) {
      return absl::InvalidArgumentError(
          absl::StrCat("token shard ", path, " has token ", tokens[i],
                       " at index ", i, ", >= vocab size ", vocab_size,
                       " (was it made with another tokenizer?)"));
    }
  }
  return tokens;
}

}  // namespace pserve
