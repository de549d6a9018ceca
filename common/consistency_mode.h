// The words sync / async / ssp of the --mode flags, mapped to the wire's
// ConsistencyMode enum in one place for servers and workers alike.
// Stateless functions: thread-safe.
#ifndef PSERVE_COMMON_CONSISTENCY_MODE_H_
#define PSERVE_COMMON_CONSISTENCY_MODE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/ps.pb.h"

namespace pserve {

// "sync", "async" or "ssp" to the enum. INVALID_ARGUMENT naming the word
// and the accepted ones otherwise. Never blocks.
absl::StatusOr<ConsistencyMode> ParseConsistencyMode(absl::string_view word);

// The flag word of a mode ("sync", "async", "ssp"; "unspecified" for
// MODE_UNSPECIFIED or an out-of-range value).
std::string ConsistencyModeName(ConsistencyMode mode);

}  // namespace pserve

#endif  // PSERVE_COMMON_CONSISTENCY_MODE_H_
