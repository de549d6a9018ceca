// MakeCudaBackend for builds without CUDA: always UNAVAILABLE.
// Thread-safety: stateless.
#include "absl/status/status.h"
#include "kernels/ops.h"

namespace pserve {

absl::StatusOr<std::unique_ptr<Backend>> MakeCudaBackend(int device,
                                                         bool tf32) {
  (void)device;
  (void)tf32;
  return absl::UnavailableError(
      "this binary was built without CUDA; rebuild with "
      "`bazel build --config=cuda` or use --backend=cpu");
}

}  // namespace pserve
