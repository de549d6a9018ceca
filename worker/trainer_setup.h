// The start-up steps both trainers (GPT and MLP) share: the compute backend
// --backend names, the client connected with the worker's flags, and the
// job's model declaration. Stateless functions; thread-compatible.
#ifndef PSERVE_WORKER_TRAINER_SETUP_H_
#define PSERVE_WORKER_TRAINER_SETUP_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/ops.h"
#include "proto/ps.pb.h"
#include "worker/client/ps_client.h"
#include "worker/worker_flags.h"

namespace pserve {

// True when --backend keeps the model in host memory (the CPU backend), so
// pulls and pushes use the model's own buffers.
bool ModelOnHost(const WorkerOptions& options);

// The backend of --backend: CUDA on --gpu (with --tf32), or the CPU backend
// with --threads. FAILED_PRECONDITION, naming the flag, when CUDA is asked
// for and cannot start (no build support, no device). Does not block.
absl::StatusOr<std::unique_ptr<Backend>> MakeWorkerBackend(
    const WorkerOptions& options);

// Connects to --servers as --rank with --connect_timeout, --server_timeout,
// the wire dtype and the TLS/token settings. Blocks until every server
// answers or --connect_timeout passes (UNAVAILABLE / DEADLINE_EXCEEDED);
// other codes are PsClient::Connect's.
absl::StatusOr<std::unique_ptr<PsClient>> ConnectWorker(
    const WorkerOptions& options);

// The Init declaration of `specs` (in order) with the job's --seed,
// --chunk_bytes, --num_workers and --mode.
InitRequest JobDeclaration(const WorkerOptions& options,
                           const std::vector<TensorSpec>& specs);

}  // namespace pserve

#endif  // PSERVE_WORKER_TRAINER_SETUP_H_
