// The periodic checkpoints of one server in one directory, named
// DIR/server-<id>-step-<step>.ckpt: listing, loading the newest valid one
// (corrupt, partial or foreign files are skipped with a warning naming the
// file), loading one step, and keeping only the newest K. Thread-safe: the
// object is immutable; concurrent writers of one step are not expected.
#ifndef PSERVE_SERVER_CHECKPOINT_DIR_H_
#define PSERVE_SERVER_CHECKPOINT_DIR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/checkpoint.h"

namespace pserve {

class CheckpointDir {
 public:
  CheckpointDir(std::string dir, int server_id);

  // Creates `dir` (and parents) if missing. INVALID_ARGUMENT naming the
  // directory if it cannot be created or written. Blocks on the filesystem.
  static absl::Status Prepare(const std::string& dir);

  const std::string& dir() const { return dir_; }
  std::string PathFor(int64_t step) const;

  // Steps of this server's checkpoint files (names only, not verified),
  // newest first. Blocks on the filesystem.
  std::vector<int64_t> Steps() const;

  // The newest file that verifies and belongs to model_hash; every file
  // skipped on the way is logged as a warning with the reason. NOT_FOUND
  // if there is none. Blocks on disk I/O.
  absl::StatusOr<ServerSnapshot> LoadNewest(uint64_t model_hash) const;

  // The file of `step`: NOT_FOUND if absent, DATA_LOSS if corrupt,
  // FAILED_PRECONDITION if it belongs to another model or server.
  absl::StatusOr<ServerSnapshot> Load(int64_t step, uint64_t model_hash) const;

  // Deletes all but the newest `keep` files. Blocks on the filesystem.
  void Prune(int keep) const;

 private:
  absl::Status Check(const ServerSnapshot& s, const std::string& path,
                     uint64_t model_hash) const;

  const std::string dir_;
  const int server_id_;
};

}  // namespace pserve

#endif  // PSERVE_SERVER_CHECKPOINT_DIR_H_
