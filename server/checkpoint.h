// Server checkpoint files: one server's full state at one step (parameters,
// optimizer moments, versions, update counts, per-rank last steps, SSP
// clocks and the accepted declaration), written to a temporary file,
// fsynced and renamed, with an FNV-1a checksum over the body that every
// read verifies. Stateless functions: thread-safe for distinct paths.
#ifndef PSERVE_SERVER_CHECKPOINT_H_
#define PSERVE_SERVER_CHECKPOINT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/shard_store.h"

namespace pserve {

// A checkpoint name a client may send: 1-64 of [A-Za-z0-9._-], no "..".
// It is a file name, never a path, so a request cannot leave the server's
// --checkpoint_dir.
class CheckpointName {
 public:
  // INVALID_ARGUMENT saying what is allowed; "" gives the default "server".
  static absl::StatusOr<CheckpointName> Parse(const std::string& name);
  // <dir>/<name>-<server_id>.ckpt
  std::string PathIn(const std::string& dir, int server_id) const;
  const std::string& str() const { return name_; }

 private:
  explicit CheckpointName(std::string name) : name_(std::move(name)) {}
  std::string name_;
};

// Everything a server needs to resume exactly where the snapshot was taken.
struct ServerSnapshot {
  uint64_t model_hash = 0;
  int32_t server_id = 0;
  int64_t step = 0;                 // every chunk's version when periodic
  std::string declaration;          // the accepted InitRequest, serialized
  std::vector<int64_t> ssp_clocks;  // (num_workers)
  std::vector<ChunkSnapshot> chunks;
};

// Writes `snapshot` to `path` durably (path.tmp, fsync, rename). Returns
// the bytes written; INTERNAL/NOT_FOUND naming the path on I/O errors.
// Blocks on disk I/O.
absl::StatusOr<int64_t> WriteCheckpointFile(const ServerSnapshot& snapshot,
                                            const std::string& path);

// Reads and verifies `path`. NOT_FOUND if it cannot be opened; DATA_LOSS
// naming the file if it is not a checkpoint, fails its checksum or is
// truncated. Blocks on disk I/O.
absl::StatusOr<ServerSnapshot> ReadCheckpointFile(const std::string& path);

// The fields of a snapshot other than its chunks and step, from the store.
void FillSnapshotHeader(const ShardStore& store, ServerSnapshot* snapshot);

// A copy of the store's full state, each chunk copied under its own lock;
// step is the smallest chunk version. Never blocks on peers.
ServerSnapshot SnapshotOf(const ShardStore& store);

// Restores `snapshot` (read from `from`) into the store after checking it
// belongs to this store's model and server: FAILED_PRECONDITION naming
// `from` otherwise; the store is unchanged on any error.
absl::Status RestoreSnapshot(ShardStore& store, ServerSnapshot snapshot,
                             const std::string& from);

}  // namespace pserve

#endif  // PSERVE_SERVER_CHECKPOINT_H_
