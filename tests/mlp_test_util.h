// Shared pieces of the --model=mlp multi-process tests: ps_prepare on a CSV
// of tests/data, one sync training job (servers plus W workers on
// loopback, waited for by PID with bounded waits) and the parameters of an
// exported safetensors file. Not thread-safe: use from the test's main
// thread.
#ifndef PSERVE_TESTS_MLP_TEST_UTIL_H_
#define PSERVE_TESTS_MLP_TEST_UTIL_H_

#include <map>
#include <string>
#include <vector>

#include "cluster/local_cluster.h"

namespace pserve {

// The path of tests/data/NAME in the runfiles.
std::string TestCsv(const std::string& name);

// Runs ps_prepare --input=tests/data/CSV --target=target --out_dir=DIR with
// `flags`; REQUIREs success and returns DIR (holding train.tab, val.tab).
std::string PrepareCsv(const std::string& csv, const std::string& dir,
                       const std::vector<std::string>& flags = {});

struct MlpJob {
  std::vector<ProcessResult> workers;    // in rank order
  std::map<std::string, double> result;  // rank 0's RESULT fields
  std::string export_path;               // rank 0's --export
};

// Starts `servers` ps_servers (sync, W workers, `server_flags` added) and
// runs `workers` ps_workers with --model=mlp, --data=DATA/train.tab,
// --val_data=DATA/val.tab, --export (rank 0) and `worker_flags`; waits up
// to 120 s; REQUIREs every worker exits 0. `name` makes the paths unique.
MlpJob RunMlpJob(const std::string& name, const std::string& data, int servers,
                 int workers, const std::vector<std::string>& server_flags,
                 const std::vector<std::string>& worker_flags);

// The float32 data of every tensor of a safetensors file, in file order.
std::vector<float> SafetensorsFloats(const std::string& path);

}  // namespace pserve

#endif  // PSERVE_TESTS_MLP_TEST_UTIL_H_
