// Who may call a server: TLS server credentials (with --tls_client_ca,
// only clients holding a certificate signed by that CA get through the
// handshake) and a bearer-token check that runs inside gRPC before any
// handler, for every method except the standard health service (left open
// for probes). Thread-safe: the token is immutable after construction and
// the refusal count is atomic.
#ifndef PSERVE_SERVER_AUTH_H_
#define PSERVE_SERVER_AUTH_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/security/auth_metadata_processor.h"
#include "grpcpp/security/server_credentials.h"

namespace pserve {

// Paths from ps_server's flags ("" = not given).
struct ServerSecurityFiles {
  std::string tls_cert, tls_key, tls_client_ca, auth_token_file;
};

// Refuses every call whose "authorization" metadata is not
// "Bearer <token>" with UNAUTHENTICATED, counting each refusal. Calls to
// /grpc.health.v1.Health/ pass without a token.
class TokenAuthProcessor final : public grpc::AuthMetadataProcessor {
 public:
  explicit TokenAuthProcessor(std::string token) : token_(std::move(token)) {}
  bool IsBlocking() const override { return false; }
  grpc::Status Process(const InputMetadata& auth_metadata,
                       grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata,
                       OutputMetadata* response_metadata) override;
  int64_t refused() const { return refused_.load(); }

 private:
  const std::string token_;
  std::atomic<int64_t> refused_{0};
};

struct ServerSecurity {
  std::shared_ptr<grpc::ServerCredentials> credentials;
  std::shared_ptr<TokenAuthProcessor> auth;  // null without a token
  std::string summary;                       // for the start-up log line
};

// Reads and checks the files and builds the credentials. Plaintext when no
// --tls_cert is given. INVALID_ARGUMENT with one line naming the flag:
// --tls_cert without --tls_key (or the reverse), --tls_client_ca or
// --auth_token_file without TLS, unreadable files, a key that is not the
// certificate's, a token file others can read. Blocks on file reads.
absl::StatusOr<ServerSecurity> LoadServerSecurity(
    const ServerSecurityFiles& files);

}  // namespace pserve

#endif  // PSERVE_SERVER_AUTH_H_
