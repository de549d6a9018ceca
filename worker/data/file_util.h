// Whole-file reads and atomic whole-file writes for the data pipeline.
// Thread-safety: free functions with no shared state; concurrent writes to
// the same path race only on which rename lands last.
#ifndef PSERVE_WORKER_DATA_FILE_UTIL_H_
#define PSERVE_WORKER_DATA_FILE_UTIL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pserve {

// Reads the whole file at `path`. `what` names the file's role in error
// messages ("token shard", "tokenizer"). Returns NOT_FOUND when the file is
// missing, PERMISSION_DENIED or INTERNAL on other I/O errors; every message
// is one line naming the file. Blocks on disk I/O.
absl::StatusOr<std::string> ReadWholeFile(const std::string& path,
                                          absl::string_view what);

// Writes `data` to `path` atomically: a temporary file beside it, fsync,
// rename. Returns INTERNAL (one line naming the file and the errno text) on
// failure, leaving any previous file untouched. Blocks on disk I/O.
absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view data,
                                 absl::string_view what);

}  // namespace pserve

#endif  // PSERVE_WORKER_DATA_FILE_UTIL_H_
