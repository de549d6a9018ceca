// ps_bench: benchmarks that measure pserve against a physical limit or a
// peer in the same run and print ratios. Suites:
//   --suite=ps      push+pull of a GPT-2 124M gradient set (1 and 2 clients,
//                   2 servers, loopback) vs raw loopback TCP; AdamW update
//                   vs memcpy.
//   --suite=soak    --clients clients (default 32) doing mixed push/pull
//                   against 2 async servers for --seconds: zero errors,
//                   server RSS flat within 5% after warm-up, p50/p99.
//   --suite=worker  CPU training step tokens/s of pserve's Gpt vs PyTorch
//                   on the same model, batch, optimizer and thread count,
//                   and its flop rate vs the machine's sgemm.
//   --suite=e2e     step time of one sync worker training through 2 local
//                   servers vs the same loop with AdamW in-process.
//   --suite=update  AdamW of GPT-2 124M through the server's ShardStore on
//                   every core vs memcpy on every core.
// The ps and soak suites start their servers with --server_flags (e.g. TLS
// and a token) and reach them with the client flags --tls_ca, --tls_cert,
// --tls_key and --auth_token_file (common/security_flags.h).
// Single-threaded driver; the PS clients use gRPC's threads.
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "common/cli.h"
#include "common/logging.h"
#include "common/security_flags.h"
#include "tools/ps_bench_suites.h"

ABSL_FLAG(std::string, suite, "ps",
          "which benchmark: ps, soak, worker, e2e or update");
ABSL_FLAG(std::string, server_binary, "",
          "path of ps_server (default: beside this binary in bazel-bin)");
ABSL_FLAG(int, rounds, 5, "timed push+pull rounds per client count");
ABSL_FLAG(int, seconds, 60, "--suite=soak: how long to run");
ABSL_FLAG(int, clients, 32, "--suite=soak: concurrent clients");
ABSL_FLAG(std::vector<std::string>, server_flags, {},
          "--suite=ps/soak: comma-separated flags added to every ps_server "
          "started, e.g. --tls_cert=s.crt,--tls_key=s.key,--tls_client_ca="
          "ca.crt,--auth_token_file=token (clients: --tls_ca and friends)");

namespace {

std::string DefaultServerBinary() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "bazel-bin/server/ps_server";
  std::string self(buf, n);
  return self.substr(0, self.rfind("/tools/")) + "/server/ps_server";
}

int Fail(const std::string& why) {
  std::fprintf(stderr, "ps_bench: %s\n", why.c_str());
  return 2;
}

// --server_binary, --server_flags and the client security flags, checked:
// a one-line reason on error (the caller exits 2).
absl::StatusOr<pserve::BenchServers> BenchServersFromFlags() {
  pserve::BenchServers s;
  s.binary = absl::GetFlag(FLAGS_server_binary);
  if (s.binary.empty()) s.binary = DefaultServerBinary();
  if (access(s.binary.c_str(), X_OK) != 0)
    return absl::InvalidArgumentError(
        "no ps_server at " + s.binary +
        "; build //server:ps_server or pass --server_binary");
  s.flags = absl::GetFlag(FLAGS_server_flags);
  bool server_tls = false;
  for (const std::string& f : s.flags) {
    if (!absl::StartsWith(f, "--"))
      return absl::InvalidArgumentError("--server_flags: '" + f +
                                        "' is not a --flag");
    server_tls = server_tls || absl::StartsWith(f, "--tls_cert=");
  }
  absl::StatusOr<pserve::ClientSecurity> security =
      pserve::ClientSecurityFromFlags();
  if (!security.ok()) return security.status();
  s.security = *std::move(security);
  if (s.security.tls() != server_tls)
    return absl::InvalidArgumentError(
        "--tls_ca and --server_flags=--tls_cert=... go together: the "
        "clients speak TLS only to servers that serve it");
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  pserve::ReexecWithHugePageMalloc(argv);
  pserve::InitCommandLine(argc, argv,
                          "pserve benchmarks; prints a table and a RESULT line",
                          {"tools/", "common/security_flags"});
  (void)pserve::SetupLogging("bench", 0, "warn");
  pserve::KeepLargeAllocationsWarm();
  const std::string suite = absl::GetFlag(FLAGS_suite);
  if (suite == "ps" || suite == "soak" || suite == "e2e") {
    absl::StatusOr<pserve::BenchServers> servers = BenchServersFromFlags();
    if (!servers.ok()) return Fail(std::string(servers.status().message()));
    if (suite == "e2e") return pserve::RunE2eSuite(*servers);
    if (suite == "ps")
      return pserve::RunPsSuite(*servers, absl::GetFlag(FLAGS_rounds));
    const int seconds = absl::GetFlag(FLAGS_seconds);
    const int clients = absl::GetFlag(FLAGS_clients);
    if (seconds < 4 || clients < 1 || clients > 1024)
      return Fail("--suite=soak needs --seconds >= 4 and --clients in 1..1024");
    return pserve::RunSoakSuite(*servers, seconds, clients);
  }
  if (suite == "worker") return pserve::RunWorkerSuite();
  if (suite == "update") return pserve::RunUpdateSuite();
  std::fprintf(
      stderr,
      "ps_bench: --suite=%s is unknown: use ps, soak, worker, e2e or update\n",
      suite.c_str());
  return 2;
}
