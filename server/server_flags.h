// ps_server's flags, checked as a whole: every combination that makes no
// sense is refused with one line naming the flag and how to fix it.
// Not thread-safe: read once from main() after absl::ParseCommandLine.
#ifndef PSERVE_SERVER_SERVER_FLAGS_H_
#define PSERVE_SERVER_SERVER_FLAGS_H_

#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/server_builder.h"
#include "server/auth.h"
#include "server/checkpointer.h"
#include "server/service.h"
#include "server/shard_store.h"

namespace pserve {

struct ServerOptions {
  ServerConfig config;
  std::string bind_address;
  int port = 0;
  std::string port_file;
  int max_message_mb = 64;
  int metrics_port = -1;
  CheckpointPolicy checkpoints;  // --checkpoint_dir, _every, --keep_checkpoints
  std::string restore_from;
  std::string log_level;
  ServerSecurityFiles security_files;
  ServiceLimits limits;
};

// Reads and validates the flags. INVALID_ARGUMENT with one line otherwise.
absl::StatusOr<ServerOptions> ServerOptionsFromFlags();

// Message limits and HTTP/2 windows tuned for multi-megabyte payloads.
void ConfigureServerBuilder(const ServerOptions& options,
                            grpc::ServerBuilder& builder);

}  // namespace pserve

#endif  // PSERVE_SERVER_SERVER_FLAGS_H_
