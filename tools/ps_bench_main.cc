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
//   --suite=update  AdamW of GPT-2 124M through the server's ShardStore on
//                   every core vs memcpy on every core.
// Single-threaded driver; the PS clients use gRPC's threads.
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "common/cli.h"
#include "common/logging.h"
#include "tools/ps_bench_suites.h"

ABSL_FLAG(std::string, suite, "ps",
          "which benchmark: ps, soak, worker or update");
ABSL_FLAG(std::string, server_binary, "",
          "path of ps_server (default: beside this binary in bazel-bin)");
ABSL_FLAG(int, rounds, 5, "timed push+pull rounds per client count");
ABSL_FLAG(int, seconds, 60, "--suite=soak: how long to run");
ABSL_FLAG(int, clients, 32, "--suite=soak: concurrent clients");

namespace {

std::string DefaultServerBinary() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "bazel-bin/server/ps_server";
  std::string self(buf, n);
  return self.substr(0, self.rfind("/tools/")) + "/server/ps_server";
}

}  // namespace

int main(int argc, char** argv) {
  pserve::ReexecWithHugePageMalloc(argv);
  pserve::InitCommandLine(argc, argv,
                          "pserve benchmarks; prints a table and a RESULT line",
                          {"tools/"});
  (void)pserve::SetupLogging("bench", 0, "warn");
  pserve::KeepLargeAllocationsWarm();
  const std::string suite = absl::GetFlag(FLAGS_suite);
  if (suite == "ps" || suite == "soak") {
    std::string binary = absl::GetFlag(FLAGS_server_binary);
    if (binary.empty()) binary = DefaultServerBinary();
    if (access(binary.c_str(), X_OK) != 0) {
      std::fprintf(stderr,
                   "ps_bench: no ps_server at %s; build //server:ps_server or "
                   "pass --server_binary\n",
                   binary.c_str());
      return 2;
    }
    if (suite == "ps")
      return pserve::RunPsSuite(binary, absl::GetFlag(FLAGS_rounds));
    const int seconds = absl::GetFlag(FLAGS_seconds);
    const int clients = absl::GetFlag(FLAGS_clients);
    if (seconds < 4 || clients < 1 || clients > 1024) {
      std::fprintf(stderr,
                   "ps_bench: --suite=soak needs --seconds >= 4 and "
                   "--clients in 1..1024\n");
      return 2;
    }
    return pserve::RunSoakSuite(binary, seconds, clients);
  }
  if (suite == "worker") return pserve::RunWorkerSuite();
  if (suite == "update") return pserve::RunUpdateSuite();
  std::fprintf(
      stderr,
      "ps_bench: --suite=%s is unknown: use ps, soak, worker or update\n",
      suite.c_str());
  return 2;
}
