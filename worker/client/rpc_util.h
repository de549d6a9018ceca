// Internal helpers of the PS client: channel construction with tuned HTTP/2
// settings, waiting for a server, deadlines and status conversion.
// Stateless functions: thread-safe.
#ifndef PSERVE_WORKER_CLIENT_RPC_UTIL_H_
#define PSERVE_WORKER_CLIENT_RPC_UTIL_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/security.h"
#include "grpcpp/grpcpp.h"

namespace pserve {

// A channel to target; distinct `index` values get distinct TCP
// connections so batches can flow in parallel.
// `security` decides plaintext or TLS and the token on every call.
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target,
                                           int max_message_mb, int index,
                                           const ClientSecurity& security);

// Blocks until the channel connects or the deadline passes, logging every
// few seconds which server it waits for. UNAVAILABLE naming it on timeout.
// `tls` adds the TLS causes (certificates, CA) to the timeout message.
absl::Status WaitForServer(const std::shared_ptr<grpc::Channel>& channel,
                           const std::string& target, int server_id,
                           absl::Time deadline, bool tls);

void SetDeadline(grpc::ClientContext& ctx, absl::Duration timeout);

// The server's status with "server N (host:port): " prepended; a message
// too large for gRPC's limit also names the --max_message_mb flags.
absl::Status FromGrpc(const grpc::Status& status, const std::string& target,
                      int server_id);

}  // namespace pserve

#endif  // PSERVE_WORKER_CLIENT_RPC_UTIL_H_
