// Transport security shared by servers and clients: PEM certificates and
// keys read and checked at start (a key that does not match its certificate
// is refused before anything listens or connects), bearer-token files that
// only their owner may read, a constant-time token comparison, and the gRPC
// channel credentials every client builds from them. Stateless functions:
// thread-safe. No function here logs or returns a token's value.
#ifndef PSERVE_COMMON_SECURITY_H_
#define PSERVE_COMMON_SECURITY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/security/credentials.h"

namespace pserve {

// The metadata key and scheme a token travels under.
inline constexpr char kAuthMetadataKey[] = "authorization";
inline constexpr char kBearerPrefix[] = "Bearer ";

// Reads a PEM file named by --`flag`. INVALID_ARGUMENT, one line naming the
// flag and the path, if it is missing, unreadable or holds no PEM block.
absl::StatusOr<std::string> ReadPemFile(absl::string_view flag,
                                        const std::string& path);

// OK if key_pem is the private key of cert_pem's certificate (OpenSSL's
// X509_check_private_key); INVALID_ARGUMENT naming both flags otherwise, or
// if either does not parse.
absl::Status CheckKeyMatchesCert(absl::string_view cert_flag,
                                 const std::string& cert_pem,
                                 absl::string_view key_flag,
                                 const std::string& key_pem);

// OK if ca_pem holds at least one parsable certificate.
absl::Status CheckCaBundle(absl::string_view flag, const std::string& ca_pem);

// Reads a token file (--`flag`): trailing whitespace is dropped; the rest
// must be 16-4096 printable ASCII characters without spaces. Refused with
// one line (never echoing the token) if the file is missing, empty, readable
// or writable by others, or readable by a group other than the process's
// own (Kubernetes' fsGroup volumes use the pod's own group).
absl::StatusOr<std::string> ReadTokenFile(absl::string_view flag,
                                          const std::string& path);

// Compares two tokens in time independent of where they differ (both are
// hashed with SHA-256 and the digests compared with CRYPTO_memcmp).
bool TokensEqual(absl::string_view a, absl::string_view b);

// What a client needs to reach secured servers. Empty ca_pem: plaintext.
struct ClientSecurity {
  std::string ca_pem;    // roots that signed the servers' certificates
  std::string cert_pem;  // this client's certificate (mutual TLS), or ""
  std::string key_pem;   // its key, or ""
  std::string token;     // sent as "authorization: Bearer <token>", or ""
  bool tls() const { return !ca_pem.empty(); }
};

// Paths as given on a client's command line ("" = not given).
struct ClientSecurityFiles {
  std::string tls_ca, tls_cert, tls_key, auth_token_file;
};

// Reads and checks the files. INVALID_ARGUMENT with one line naming the
// flag: --tls_cert without --tls_key (or the reverse), either without
// --tls_ca, a token without TLS (it would cross the network in plaintext),
// plus every error of the readers above. Blocks on file reads.
absl::StatusOr<ClientSecurity> LoadClientSecurity(
    const ClientSecurityFiles& files);

// Insecure credentials when !security.tls(); otherwise TLS with the given
// roots (and client certificate), plus the bearer token on every call.
std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(
    const ClientSecurity& security);

}  // namespace pserve

#endif  // PSERVE_COMMON_SECURITY_H_
