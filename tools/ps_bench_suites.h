// The benchmark suites of ps_bench. Each prints a table and ends with a
// RESULT line; returns the process exit code. Blocking, single caller.
#ifndef PSERVE_TOOLS_PS_BENCH_SUITES_H_
#define PSERVE_TOOLS_PS_BENCH_SUITES_H_

#include <string>

namespace pserve {

int RunPsSuite(const std::string& server_binary, int rounds);
// `clients` PsClients against 2 async servers for `seconds`; nonzero exit
// on any failed RPC or server RSS growth over 5% after warm-up.
int RunSoakSuite(const std::string& server_binary, int seconds, int clients);
int RunWorkerSuite();
// AdamW over GPT-2 124M through the server's ShardStore on all cores
// (--update_threads) against memcpy on the same threads.
int RunUpdateSuite();

}  // namespace pserve

#endif  // PSERVE_TOOLS_PS_BENCH_SUITES_H_
