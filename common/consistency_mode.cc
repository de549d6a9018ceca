// Flag words <-> ConsistencyMode.
#include "common/consistency_mode.h"

#include "absl/strings/str_cat.h"

namespace pserve {

absl::StatusOr<ConsistencyMode> ParseConsistencyMode(absl::string_view word) {
  if (word == "sync") return MODE_SYNC;
  if (word == "async") return MODE_ASYNC;
  if (word == "ssp") return MODE_SSP;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown mode '", word, "': use sync, async or ssp"));
}

std::string ConsistencyModeName(ConsistencyMode mode) {
  switch (mode) {
    case MODE_SYNC:
      return "sync";
    case MODE_ASYNC:
      return "async";
    case MODE_SSP:
      return "ssp";
    default:
      return "unspecified";
  }
}

}  // namespace pserve
