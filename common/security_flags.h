// The client-side security flags (--tls_ca, --tls_cert, --tls_key,
// --auth_token_file), defined once for every program that calls a server:
// ps_worker, ps_bench, the launcher. Not thread-safe: read from main().
#ifndef PSERVE_COMMON_SECURITY_FLAGS_H_
#define PSERVE_COMMON_SECURITY_FLAGS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/security.h"

namespace pserve {

// The flags' paths as given.
ClientSecurityFiles ClientSecurityFilesFromFlags();

// Reads and checks them (LoadClientSecurity's contract).
absl::StatusOr<ClientSecurity> ClientSecurityFromFlags();

// The same flags as "--name=path" arguments, for handing on to a child
// process (only those that were set).
std::vector<std::string> ClientSecurityArgs(const ClientSecurityFiles& files);

}  // namespace pserve

#endif  // PSERVE_COMMON_SECURITY_FLAGS_H_
