// Process supervision on one machine, shared by the multi-process tests, the
// benchmarks and ps_launch: starts real ps_server processes on loopback, each
// on a free port it picks itself (--port=0, reported through --port_file),
// and ends exactly those processes, by PID, when destroyed. Not thread-safe:
// a LocalCluster is owned by one thread; RunProcess is thread-safe.
#ifndef PSERVE_CLUSTER_LOCAL_CLUSTER_H_
#define PSERVE_CLUSTER_LOCAL_CLUSTER_H_

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
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

// A child whose stdout and stderr arrive, together, on a pipe that the
// caller owns (and closes).
struct PipedProcess {
  pid_t pid = -1;
  int out_fd = -1;  // read end, non-blocking, close-on-exec
};
// Starts argv (argv[0] is a path) with stdin from /dev/null and its output
// into a pipe, in a process group of its own (so a terminal's Ctrl-C reaches
// only the caller, which decides how to stop it), and sets it to receive
// SIGTERM when the calling thread exits, so a supervisor killed outright
// leaves nothing behind. INTERNAL naming the binary if it cannot be started;
// NOT_FOUND if argv[0] is not an executable file. Does not block.
absl::StatusOr<PipedProcess> StartPiped(const std::vector<std::string>& argv);

// Reaps pid if it has exited: its exit code (128 + signal if a signal ended
// it), or nullopt while it runs. Does not block.
std::optional<int> PollExit(pid_t pid);

// Sends SIGTERM to every pid, waits up to `grace` for all of them (calling
// `while_waiting`, if set, between checks, e.g. to drain their pipes), then
// SIGKILLs the rest. Returns each one's exit code in order (-1: had to be
// killed). Blocks at most grace plus a moment.
std::vector<int> StopProcesses(
    const std::vector<pid_t>& pids, std::chrono::milliseconds grace,
    const std::function<void()>& while_waiting = nullptr);

// Reads the port that a ps_server started with --port_file=path reports,
// waiting up to `timeout` while process `pid` runs. FAILED_PRECONDITION if
// the process exits first (its exit code in the message), DEADLINE_EXCEEDED
// if no port appears in time. Blocks.
absl::StatusOr<int> WaitForPortFile(const std::string& path, pid_t pid,
                                    std::chrono::milliseconds timeout);

// The whole file as text; empty if it cannot be read. Does not block beyond
// the read.
std::string ReadTextFile(const std::string& path);

// "exited with status 3", "was killed by signal 9 (SIGKILL)" for an exit
// code from PollExit / WaitProcess.
std::string DescribeExit(int exit_code);

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
  // Each server's log file (stdout and stderr), in server order.
  const std::vector<std::string>& logs() const { return logs_; }
  // Sends SIGTERM to every server and waits; returns their exit codes.
  std::vector<int> Stop();

  // Server s's log file (its latest start's).
  const std::string& log(int s) const { return logs_[s]; }
  // Kills server s with SIGKILL (a crash) and reaps it. Blocks until gone.
  void Kill(int s);
  // Starts server s again with the flags and port of its first start and
  // waits for it to listen (at most 30 s; its log gets a new file).
  // INTERNAL / DEADLINE_EXCEEDED with the log otherwise. Blocks.
  absl::Status Restart(int s);

 private:
  LocalCluster() = default;
  std::vector<pid_t> pids_;
  std::vector<std::string> addresses_;
  std::vector<std::string> logs_;
  std::vector<std::vector<std::string>> argvs_;  // each server's command
  std::vector<std::string> port_files_;
  int restarts_ = 0;
};

}  // namespace pserve

#endif  // PSERVE_CLUSTER_LOCAL_CLUSTER_H_
