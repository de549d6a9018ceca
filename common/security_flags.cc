// Client security flag definitions.
#include "common/security_flags.h"

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA certificate(s) that signed the servers' certificates; "
          "turns on TLS to the servers (empty: plaintext)");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM client certificate for mutual TLS (with --tls_key and "
          "--tls_ca), for servers started with --tls_client_ca");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(std::string, auth_token_file, "",
          "file holding the servers' bearer token (mode 600; needs "
          "--tls_ca); sent as 'authorization: Bearer ...' on every call");

namespace pserve {

ClientSecurityFiles ClientSecurityFilesFromFlags() {
  ClientSecurityFiles f;
  f.tls_ca = absl::GetFlag(FLAGS_tls_ca);
  f.tls_cert = absl::GetFlag(FLAGS_tls_cert);
  f.tls_key = absl::GetFlag(FLAGS_tls_key);
  f.auth_token_file = absl::GetFlag(FLAGS_auth_token_file);
  return f;
}

absl::StatusOr<ClientSecurity> ClientSecurityFromFlags() {
  return LoadClientSecurity(ClientSecurityFilesFromFlags());
}

std::vector<std::string> ClientSecurityArgs(const ClientSecurityFiles& f) {
  std::vector<std::string> args;
  const std::pair<const char*, const std::string*> all[] = {
      {"--tls_ca=", &f.tls_ca},
      {"--tls_cert=", &f.tls_cert},
      {"--tls_key=", &f.tls_key},
      {"--auth_token_file=", &f.auth_token_file}};
  for (const auto& [name, value] : all)
    if (!value->empty()) args.push_back(name + *value);
  return args;
}

}  // namespace pserve
