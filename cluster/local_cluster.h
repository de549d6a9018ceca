// Process supervision on one machine, shared by the multi-process tests, the
// benchmarks and ps_launch: starts real ps_server processes on loopback, each
// on a free port it picks itself (--port=0, reported through --port_file),
// and ends exactly those processes, by PID, when destroyed. Not thread-safe:
// a LocalCluster is owned by one thread; RunProcess is thread-safe.
#ifndef PSERVE_CLUSTER_LOCAL_CLUSTER_H_
#define PSERVE_CLUSTER_LOCAL_CLUSTER_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace pserve {

// Path of a binary built by Bazel and listed in the test's data, e.g.
// "server/ps_server".
std::string RunfilePath(const std::string& relative);

// A scratch directory unique to this test process.
std::string TestTempDir();

struct ProcessResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// A process started with its stdout and stderr in a log file.
struct Started {
  pid_t pid = -1;
  std::string log;
};
Started StartProcess(const std::vector<std::string>& argv,
                     const std::string& log);
// Waits up to timeout_s for the process (then SIGKILLs it: exit code -1).
ProcessResult WaitProcess(const Started& p, int timeout_s);

// Runs a command to completion (at most `timeout_s` seconds, then killed).
// Thread-safe.
ProcessResult RunProcess(const std::vector<std::string>& argv,
                         int timeout_s = 120);

class LocalCluster {
 public:
  // Starts num_servers servers with the given extra flags (--port,
  // --server_id, --num_servers, --port_file and --bind_address are set here).
  // "%ID%" in a flag becomes the server's id.
  // server_binary: path of ps_server; empty means the test's runfile.
  static absl::StatusOr<LocalCluster> Start(
      int num_servers, const std::vector<std::string>& flags,
      const std::string& server_binary = "");
  LocalCluster(LocalCluster&&) noexcept;
  LocalCluster& operator=(LocalCluster&&) = delete;
  ~LocalCluster();

  const std::vector<std::string>& addresses() const { return addresses_; }
  std::string AddressList() const;  // "127.0.0.1:p0,127.0.0.1:p1"
  const std::vector<pid_t>& pids() const { return pids_; }
  // Sends SIGTERM to every server and waits; returns their exit codes.
  std::vector<int> Stop();

 private:
  LocalCluster() = default;
  std::vector<pid_t> pids_;
  std::vector<std::string> addresses_;
  std::vector<std::string> logs_;
};

}  // namespace pserve

#endif  // PSERVE_CLUSTER_LOCAL_CLUSTER_H_
