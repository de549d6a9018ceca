// The start-up steps both trainers share (see trainer_setup.h). Stateless.
#include "worker/trainer_setup.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace pserve {

bool ModelOnHost(const WorkerOptions& options) {
  return options.backend != "cuda";
}

absl::StatusOr<std::unique_ptr<Backend>> MakeWorkerBackend(
    const WorkerOptions& options) {
  if (ModelOnHost(options)) return MakeCpuBackend(options.threads);
  absl::StatusOr<std::unique_ptr<Backend>> cuda =
      MakeCudaBackend(options.gpu, options.tf32);
  if (!cuda.ok())
    return absl::FailedPreconditionError(
        absl::StrCat("--backend=cuda: ", cuda.status().message()));
  return cuda;
}

absl::StatusOr<std::unique_ptr<PsClient>> ConnectWorker(
    const WorkerOptions& options) {
  ClientOptions co;
  co.servers = options.servers;
  co.rank = options.rank;
  co.connect_timeout = absl::Seconds(options.connect_timeout_s);
  co.retry.deadline = absl::Seconds(options.server_timeout_s);
  co.dtype = options.wire_dtype;
  co.security = options.security;
  return PsClient::Connect(co);
}

InitRequest JobDeclaration(const WorkerOptions& options,
                           const std::vector<TensorSpec>& specs) {
  InitRequest declaration;
  for (const TensorSpec& spec : specs) *declaration.add_tensors() = spec;
  declaration.set_seed(options.seed);
  declaration.set_chunk_bytes(options.chunk_bytes);
  declaration.set_num_workers(options.num_workers);
  declaration.set_mode(options.mode);
  return declaration;
}

}  // namespace pserve
