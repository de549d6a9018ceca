// PEM checks with OpenSSL, token files, and client channel credentials.
#include "common/security.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace pserve {
namespace {

absl::Status Bad(absl::string_view flag, const std::string& path,
                 absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("--", flag, "=", path, ": ", what));
}

absl::StatusOr<std::string> ReadWhole(absl::string_view flag,
                                      const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return Bad(flag, path,
               absl::StrCat("cannot read it (", std::strerror(errno), ")"));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using Bio = std::unique_ptr<BIO, BioDeleter>;

Bio MemBio(const std::string& pem) {
  return Bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

bool Printable(absl::string_view s) {
  for (char c : s)
    if (c <= ' ' || c > '~') return false;
  return true;
}

}  // namespace

absl::StatusOr<std::string> ReadPemFile(absl::string_view flag,
                                        const std::string& path) {
  absl::StatusOr<std::string> pem = ReadWhole(flag, path);
  if (!pem.ok()) return pem.status();
  if (!absl::StrContains(*pem, "-----BEGIN "))
    return Bad(flag, path, "holds no PEM block (-----BEGIN ...)");
  return pem;
}

absl::Status CheckKeyMatchesCert(absl::string_view cert_flag,
                                 const std::string& cert_pem,
                                 absl::string_view key_flag,
                                 const std::string& key_pem) {
  Bio cb = MemBio(cert_pem), kb = MemBio(key_pem);
  X509* cert = PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr);
  absl::Status s = absl::OkStatus();
  if (cert == nullptr)
    s = absl::InvalidArgumentError(
        absl::StrCat("--", cert_flag, " holds no X.509 certificate"));
  else if (key == nullptr)
    s = absl::InvalidArgumentError(absl::StrCat(
        "--", key_flag, " holds no unencrypted private key in PEM form"));
  else if (X509_check_private_key(cert, key) != 1)
    s = absl::InvalidArgumentError(
        absl::StrCat("--", key_flag, " is not the private key of the --",
                     cert_flag, " certificate; pass the matching pair"));
  X509_free(cert);
  EVP_PKEY_free(key);
  return s;
}

absl::Status CheckCaBundle(absl::string_view flag, const std::string& ca_pem) {
  Bio b = MemBio(ca_pem);
  X509* cert = PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr);
  if (cert == nullptr)
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, " holds no X.509 CA certificate"));
  X509_free(cert);
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadTokenFile(absl::string_view flag,
                                          const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return Bad(flag, path,
               absl::StrCat("cannot read it (", std::strerror(errno), ")"));
  const bool others = (st.st_mode & S_IRWXO) != 0;
  const bool foreign_group =
      (st.st_mode & (S_IRGRP | S_IWGRP)) != 0 && st.st_gid != ::getegid();
  if (others || foreign_group)
    return Bad(flag, path,
               absl::StrFormat("other users can read it (mode %04o); "
                               "chmod 600 it",
                               st.st_mode & 07777));
  absl::StatusOr<std::string> raw = ReadWhole(flag, path);
  if (!raw.ok()) return raw.status();
  const absl::string_view token = absl::StripTrailingAsciiWhitespace(*raw);
  if (token.size() < 16 || token.size() > 4096 || !Printable(token))
    return Bad(flag, path,
               "must hold one token of 16-4096 printable characters without "
               "spaces (e.g. from: openssl rand -hex 32)");
  return std::string(token);
}

bool TokensEqual(absl::string_view a, absl::string_view b) {
  unsigned char da[SHA256_DIGEST_LENGTH], db[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(a.data()), a.size(), da);
  SHA256(reinterpret_cast<const unsigned char*>(b.data()), b.size(), db);
  return CRYPTO_memcmp(da, db, sizeof(da)) == 0;
}

absl::StatusOr<ClientSecurity> LoadClientSecurity(
    const ClientSecurityFiles& f) {
  ClientSecurity s;
  if (f.tls_cert.empty() != f.tls_key.empty())
    return absl::InvalidArgumentError(
        "--tls_cert and --tls_key go together: give both or neither");
  if (f.tls_ca.empty() && !f.tls_cert.empty())
    return absl::InvalidArgumentError(
        "--tls_cert needs --tls_ca (the CA that signed the servers' "
        "certificates)");
  if (f.tls_ca.empty() && !f.auth_token_file.empty())
    return absl::InvalidArgumentError(
        "--auth_token_file needs --tls_ca: a token sent without TLS can be "
        "read off the network");
  if (f.tls_ca.empty()) return s;
  absl::StatusOr<std::string> ca = ReadPemFile("tls_ca", f.tls_ca);
  if (!ca.ok()) return ca.status();
  if (absl::Status st = CheckCaBundle("tls_ca", *ca); !st.ok()) return st;
  s.ca_pem = *ca;
  if (!f.tls_cert.empty()) {
    absl::StatusOr<std::string> cert = ReadPemFile("tls_cert", f.tls_cert);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadPemFile("tls_key", f.tls_key);
    if (!key.ok()) return key.status();
    absl::Status st = CheckKeyMatchesCert("tls_cert", *cert, "tls_key", *key);
    if (!st.ok()) return st;
    s.cert_pem = *cert;
    s.key_pem = *key;
  }
  if (!f.auth_token_file.empty()) {
    absl::StatusOr<std::string> token =
        ReadTokenFile("auth_token_file", f.auth_token_file);
    if (!token.ok()) return token.status();
    s.token = *token;
  }
  return s;
}

std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(
    const ClientSecurity& security) {
  if (!security.tls()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = security.ca_pem;
  o.pem_cert_chain = security.cert_pem;
  o.pem_private_key = security.key_pem;
  std::shared_ptr<grpc::ChannelCredentials> tls = grpc::SslCredentials(o);
  if (security.token.empty()) return tls;
  return grpc::CompositeChannelCredentials(
      tls, grpc::AccessTokenCredentials(security.token));
}

}  // namespace pserve
