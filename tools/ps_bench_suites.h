// The benchmark suites of ps_bench. Each prints a table and ends with a
// RESULT line; returns the process exit code. Blocking, single caller.
#ifndef PSERVE_TOOLS_PS_BENCH_SUITES_H_
#define PSERVE_TOOLS_PS_BENCH_SUITES_H_

#include <string>
#include <vector>

#include "common/security.h"

namespace pserve {

// The servers the ps and soak suites start and how their clients reach
// them: ps_bench's --server_binary, --server_flags and client security
// flags (--tls_ca, --tls_cert, --tls_key, --auth_token_file), checked by
// main before any suite runs.
struct BenchServers {
  std::string binary;              // ps_server
  std::vector<std::string> flags;  // added to each server's own flags
  ClientSecurity security;         // every PsClient's TLS and token

  // A suite's own server flags followed by `flags`.
  std::vector<std::string> With(std::vector<std::string> own) const {
    own.insert(own.end(), flags.begin(), flags.end());
    return own;
  }
};

int RunPsSuite(const BenchServers& servers, int rounds);
// `clients` PsClients against 2 async servers for `seconds`; nonzero exit
// on any failed RPC or server RSS growth over 5% after warm-up.
int RunSoakSuite(const BenchServers& servers, int seconds, int clients);
int RunWorkerSuite();
// One sync worker (the Trainer) through 2 local servers vs the same loop
// with AdamW in-process, small and wide models: ps_overhead per model.
int RunE2eSuite(const BenchServers& servers);
// AdamW over GPT-2 124M through the server's ShardStore on all cores
// (--update_threads) against memcpy on the same threads.
int RunUpdateSuite();

}  // namespace pserve

#endif  // PSERVE_TOOLS_PS_BENCH_SUITES_H_
