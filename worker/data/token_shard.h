// Token shards in llm.c's format: a header of 256 little-endian int32
// (magic 20240520, version 1, token count, then zeros) followed by that many
// uint16 tokens. Thread-safety: free functions with no shared state.
#ifndef PSERVE_WORKER_DATA_TOKEN_SHARD_H_
#define PSERVE_WORKER_DATA_TOKEN_SHARD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace pserve {

inline constexpr int32_t kTokenShardMagic = 20240520;
inline constexpr int32_t kTokenShardVersion = 1;
inline constexpr int kTokenShardHeaderInts = 256;
// Tokens are stored as uint16, so no vocabulary may exceed this.
inline constexpr int kMaxShardVocab = 65536;

// Writes `tokens` to `path` as an llm.c token shard, atomically (temporary
// file, fsync, rename). Returns INVALID_ARGUMENT when a token is outside
// [0, 65535] or there are more than INT32_MAX tokens, INTERNAL / NOT_FOUND /
// PERMISSION_DENIED on I/O errors. Every message is one line naming the
// file. Blocks on disk I/O.
absl::Status WriteTokenShard(const std::string& path,
                             const std::vector<int32_t>& tokens);

// Reads and validates the whole shard at `path`; every token must be
// < `vocab_size` (1..65536). Returns the tokens, or a one-line error naming
// the file and the fault:
//   NOT_FOUND         the file does not exist;
//   INVALID_ARGUMENT  bad magic, unsupported version, negative token count,
//                     a token >= vocab_size, or vocab_size out of range;
//   DATA_LOSS         fewer tokens than the header says (truncated) or bytes
//                     left over after them.
// Blocks on disk I/O (reads the file fully).
absl::StatusOr<std::vector<uint16_t>> ReadTokenShard(const std::string& path,
                                                     int vocab_size);

}  // namespace pserve

#endif  // PSERVE_WORKER_DATA_TOKEN_SHARD_H_
