// Certificate and key checks, token files and the token comparison, on a
// throwaway PKI made with openssl at test time.
#include "common/security.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <string>

namespace pserve {
namespace {

const std::string& Pki() {
  static const std::string dir = [] {
    const char* tmp = std::getenv("TEST_TMPDIR");
    const std::string d = std::string(tmp ? tmp : "/tmp") + "/pki";
    const std::string cmd =
        "mkdir -p " + d + " && bash common/make_test_certs.sh " + d;
    REQUIRE(std::system(cmd.c_str()) == 0);
    return d;
  }();
  return dir;
}

std::string P(const std::string& name) { return Pki() + "/" + name; }

std::string Read(const std::string& path) {
  absl::StatusOr<std::string> s = ReadPemFile("f", path);
  REQUIRE(s.ok());
  return *s;
}

TEST_CASE("a key is checked against its certificate") {
  CHECK(CheckKeyMatchesCert("tls_cert", Read(P("server.crt")), "tls_key",
                            Read(P("server.key")))
            .ok());
  absl::Status s = CheckKeyMatchesCert("tls_cert", Read(P("server.crt")),
                                       "tls_key", Read(P("client.key")));
  CHECK(absl::IsInvalidArgument(s));
  CHECK(s.message() ==
        "--tls_key is not the private key of the --tls_cert certificate; "
        "pass the matching pair");
  CHECK(absl::IsInvalidArgument(ReadPemFile("tls_ca", P("token")).status()));
  CHECK(absl::IsInvalidArgument(ReadPemFile("tls_ca", P("nope")).status()));
  CHECK(CheckCaBundle("tls_ca", Read(P("ca.crt"))).ok());
}

TEST_CASE("token files: owner-only, one printable token, never echoed") {
  absl::StatusOr<std::string> t = ReadTokenFile("auth_token_file", P("token"));
  REQUIRE(t.ok());
  CHECK(t->size() == 64);
  const std::string loose = P("loose");
  std::ofstream(loose) << *t << "\n";
  REQUIRE(::chmod(loose.c_str(), 0604) == 0);
  absl::StatusOr<std::string> refused = ReadTokenFile("auth_token_file", loose);
  CHECK(absl::IsInvalidArgument(refused.status()));
  CHECK(refused.status().message().find("other users can read it") !=
        std::string::npos);
  CHECK(refused.status().message().find(*t) == std::string::npos);
  const std::string shortfile = P("short");
  std::ofstream(shortfile) << "abc\n";
  REQUIRE(::chmod(shortfile.c_str(), 0600) == 0);
  CHECK(absl::IsInvalidArgument(
      ReadTokenFile("auth_token_file", shortfile).status()));
}

TEST_CASE("tokens compare equal only when identical") {
  CHECK(TokensEqual("0123456789abcdef", "0123456789abcdef"));
  CHECK_FALSE(TokensEqual("0123456789abcdef", "0123456789abcdeF"));
  CHECK_FALSE(TokensEqual("0123456789abcdef", "0123456789abcde"));
  CHECK_FALSE(TokensEqual("", "x"));
}

TEST_CASE("client security: flags that go together, and no token in clear") {
  ClientSecurityFiles f;
  CHECK(LoadClientSecurity(f).ok());
  CHECK_FALSE(LoadClientSecurity(f)->tls());
  f.auth_token_file = P("token");
  CHECK(LoadClientSecurity(f).status().message().find("needs --tls_ca") !=
        std::string::npos);
  f.tls_ca = P("ca.crt");
  f.tls_cert = P("client.crt");
  CHECK(absl::IsInvalidArgument(LoadClientSecurity(f).status()));
  f.tls_key = P("client.key");
  absl::StatusOr<ClientSecurity> s = LoadClientSecurity(f);
  REQUIRE(s.ok());
  CHECK(s->tls());
  CHECK(!s->token.empty());
  CHECK(MakeChannelCredentials(*s) != nullptr);
}

}  // namespace
}  // namespace pserve
