// ps_worker's --model=mlp flags (--hidden, --activation, --loss, --init,
// --init_scale), read into an MlpConfig whose input and output widths the
// trainer fills in from the data file. Not thread-safe: read once from
// main() after command-line parsing.
#ifndef PSERVE_WORKER_MLP_FLAGS_H_
#define PSERVE_WORKER_MLP_FLAGS_H_

#include "absl/status/statusor.h"
#include "worker/model/mlp_config.h"

namespace pserve {

// INVALID_ARGUMENT with a one-line message naming the flag and its
// accepted values. Never blocks.
absl::StatusOr<MlpConfig> MlpConfigFromFlags();

}  // namespace pserve

#endif  // PSERVE_WORKER_MLP_FLAGS_H_
