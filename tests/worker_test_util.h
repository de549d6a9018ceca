// Shared pieces of the ps_worker end-to-end tests: a deterministic
// synthetic corpus prepared with ps_prepare, worker processes started and
// awaited by PID with bounded waits, and parsing of the RESULT line and
// the --metrics_file. Not thread-safe: use from the test's main thread.
#ifndef PSERVE_TESTS_WORKER_TEST_UTIL_H_
#define PSERVE_TESTS_WORKER_TEST_UTIL_H_

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "cluster/local_cluster.h"

namespace pserve {

// Writes ~200 KB of sentences from a tiny grammar (fixed seed) under `dir`
// and runs ps_prepare on it; returns the directory holding train.bin,
// val.bin and tokenizer.bin. Fails the test (REQUIRE) if ps_prepare fails.
std::string PrepareCorpus(const std::string& dir);

// Runs the given commands concurrently and waits for all of them.
std::vector<ProcessResult> RunConcurrently(
    const std::vector<std::vector<std::string>>& argvs, int timeout_s);

// ps_worker's command line: the binary, the given flags, --threads=1.
std::vector<std::string> WorkerArgv(const std::vector<std::string>& flags);

// The fields of the last "RESULT k=v ..." line of `output` (empty if none).
std::map<std::string, double> ParseResult(const std::string& output);

// The value of `key` in each --metrics_file line of the given kind.
std::vector<double> MetricsValues(const std::string& path,
                                  const std::string& kind,
                                  const std::string& key);

// The non-empty lines of `text`.
std::vector<std::string> Lines(const std::string& text);

}  // namespace pserve

#endif  // PSERVE_TESTS_WORKER_TEST_UTIL_H_
