// Server checkpoints: every chunk this server owns with its optimizer state
// and version, written to a temporary file, fsynced and renamed, with an
// FNV-1a checksum over the body that a restore verifies. Thread-safe: each
// chunk is locked while it is copied, so a checkpoint taken during training
// is consistent per chunk (not across chunks).
#ifndef PSERVE_SERVER_CHECKPOINT_H_
#define PSERVE_SERVER_CHECKPOINT_H_

#include <cstdint>
#include <string>

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

// Writes the store's chunks to `path`. Returns the bytes written;
// INTERNAL/NOT_FOUND naming the path on I/O errors. Blocks on disk I/O.
absl::StatusOr<int64_t> WriteCheckpoint(const ShardStore& store,
                                        const std::string& path);

// Loads `path` into an initialised store. FAILED_PRECONDITION if the file
// belongs to another model or server, DATA_LOSS on a bad checksum or a
// truncated file; the store is unchanged on any error.
absl::Status RestoreCheckpoint(ShardStore& store, const std::string& path);

}  // namespace pserve

#endif  // PSERVE_SERVER_CHECKPOINT_H_
