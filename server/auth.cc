// Server credentials and the bearer-token check.
#include "server/auth.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/security.h"

namespace pserve {
namespace {

constexpr char kHealthPrefix[] = "/grpc.health.v1.Health/";

absl::Status RequireTls(const ServerSecurityFiles& f) {
  if (f.tls_cert.empty() != f.tls_key.empty())
    return absl::InvalidArgumentError(
        "--tls_cert and --tls_key go together: give both or neither");
  if (f.tls_cert.empty() && !f.tls_client_ca.empty())
    return absl::InvalidArgumentError(
        "--tls_client_ca needs --tls_cert and --tls_key (mutual TLS is TLS)");
  if (f.tls_cert.empty() && !f.auth_token_file.empty())
    return absl::InvalidArgumentError(
        "--auth_token_file needs --tls_cert and --tls_key: a token sent "
        "without TLS can be read off the network");
  return absl::OkStatus();
}

}  // namespace

grpc::Status TokenAuthProcessor::Process(const InputMetadata& md,
                                         grpc::AuthContext*,
                                         OutputMetadata* consumed,
                                         OutputMetadata*) {
  auto path = md.find(":path");
  if (path != md.end() &&
      absl::StartsWith(
          absl::string_view(path->second.data(), path->second.size()),
          kHealthPrefix))
    return grpc::Status::OK;
  auto auth = md.find(kAuthMetadataKey);
  if (auth != md.end()) {
    const absl::string_view value(auth->second.data(), auth->second.size());
    if (absl::StartsWith(value, kBearerPrefix) &&
        TokensEqual(value.substr(sizeof(kBearerPrefix) - 1), token_)) {
      consumed->insert(
          std::make_pair(std::string(auth->first.data(), auth->first.size()),
                         std::string(value)));
      return grpc::Status::OK;
    }
  }
  refused_.fetch_add(1);
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                      auth == md.end()
                          ? "no bearer token: give the client "
                            "--auth_token_file with the servers' token"
                          : "wrong bearer token: give the client "
                            "--auth_token_file with the servers' token");
}

absl::StatusOr<ServerSecurity> LoadServerSecurity(
    const ServerSecurityFiles& f) {
  if (absl::Status s = RequireTls(f); !s.ok()) return s;
  ServerSecurity out;
  if (f.tls_cert.empty()) {
    out.credentials = grpc::InsecureServerCredentials();
    out.summary = "plaintext, no authentication";
    return out;
  }
  absl::StatusOr<std::string> cert = ReadPemFile("tls_cert", f.tls_cert);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPemFile("tls_key", f.tls_key);
  if (!key.ok()) return key.status();
  absl::Status s = CheckKeyMatchesCert("tls_cert", *cert, "tls_key", *key);
  if (!s.ok()) return s;
  grpc::SslServerCredentialsOptions o(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  o.pem_key_cert_pairs.push_back({*key, *cert});
  if (!f.tls_client_ca.empty()) {
    absl::StatusOr<std::string> ca =
        ReadPemFile("tls_client_ca", f.tls_client_ca);
    if (!ca.ok()) return ca.status();
    if (s = CheckCaBundle("tls_client_ca", *ca); !s.ok()) return s;
    o.pem_root_certs = *ca;
    o.client_certificate_request =
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  out.credentials = grpc::SslServerCredentials(o);
  out.summary = f.tls_client_ca.empty() ? "TLS" : "mutual TLS";
  if (!f.auth_token_file.empty()) {
    absl::StatusOr<std::string> token =
        ReadTokenFile("auth_token_file", f.auth_token_file);
    if (!token.ok()) return token.status();
    out.auth = std::make_shared<TokenAuthProcessor>(*std::move(token));
    out.credentials->SetAuthMetadataProcessor(out.auth);
    absl::StrAppend(&out.summary, ", bearer token");
  }
  return out;
}

}  // namespace pserve
