// ps_launch: starts a parameter-server job on this machine (S ps_server and
// W ps_worker processes), streams their logs, shows one progress line and
// stops everything it started. This header is the launcher's one API: its
// options, the progress tracker and the job runner. Not thread-safe: the
// whole launcher runs on its main thread (a poll loop), which owns every
// object declared here.
#ifndef PSERVE_TOOLS_LAUNCH_LAUNCH_H_
#define PSERVE_TOOLS_LAUNCH_LAUNCH_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace pserve {

// How the progress line is shown: refreshed in place (tty), as a plain
// line every --progress_every seconds (plain), or not at all (none).
enum class ProgressStyle { kAuto, kTty, kPlain, kNone };

struct LaunchOptions {
  int servers = 1;
  int workers = 1;
  std::string mode = "sync";              // sync | async | ssp
  std::vector<std::string> server_flags;  // passed to every ps_server
  std::vector<std::string> worker_argv;   // binary, then its flags
  std::string server_binary;              // resolved path of ps_server
  std::string log_dir;                    // server-<i>.log, worker-<r>.log
  std::string pid_file;  // "PID name" lines; default log_dir/pids.txt
  bool stream = true;    // copy logs to stdout, prefixed
  bool restart_failed = false;
  int max_restarts = 3;  // per process
  ProgressStyle progress = ProgressStyle::kAuto;
  int progress_every_s = 10;
  int timeout_s = 0;    // 0: no limit
  int64_t steps = 100;  // the workers' --steps
};

// Parses `ps_launch [launcher and server flags] -- WORKER [worker flags]`.
// Launcher flags: --servers, --workers, --mode, --log_dir, --pid_file,
// --server_binary,
// --stream, --restart_failed, --max_restarts, --progress, --progress_every,
// --timeout; every other flag before "--" goes to each server. Refuses the
// flags the launcher fills in itself (--port, --server_id, --num_servers,
// --num_workers, --port_file; --servers, --rank, --num_workers for workers)
// and finds the binaries (a name without "/" is looked up beside ps_launch,
// in Bazel's layout, then on PATH). INVALID_ARGUMENT or NOT_FOUND with one
// line saying what to fix. `self` is ps_launch's own path. Does not block.
absl::StatusOr<LaunchOptions> ParseLaunchArgs(
    const std::string& self, const std::vector<std::string>& args);

// The --help text.
std::string LaunchUsage();

// The command line of server `id` (port 0 and a port file, or `port` when a
// restarted server must keep its address) and of worker `rank` (ranks,
// --servers and --mode filled in; rank-0-only flags such as --export and
// --val_data dropped for the other ranks; "%RANK%" replaced).
std::vector<std::string> ServerArgv(const LaunchOptions& o, int id,
                                    const std::string& port_file, int port);
std::vector<std::string> WorkerArgv(const LaunchOptions& o, int rank,
                                    const std::string& servers);

// Follows the workers' log lines ("step N loss X tokens/s Y pull Ps ...")
// and renders the progress line: step, global loss (mean over workers of
// their latest loss), tokens/s of all workers, sync wait (mean pull time
// per step, which in sync mode includes waiting for the slowest worker) and
// ETA.
class ProgressTracker {
 public:
  ProgressTracker(int workers, int64_t total_steps);
  // Feeds one line of worker `rank`'s output; other lines are ignored.
  void OnWorkerLine(int rank, std::string_view line);
  // Steps every worker has finished (the slowest worker's count).
  int64_t StepsDone() const;
  // "step 120/600  loss 2.314  global 2.301  4100 tok/s  wait 35ms  1m02s
  // ETA 4m08s": the workers' mean loss, the servers' global loss of the
  // latest step known (when reported), the summed rate (rows/s for MLP
  // workers), the mean pull time (GPT workers); `elapsed_s` is the time
  // since the workers started.
  std::string Line(double elapsed_s) const;

 private:
  struct WorkerState {
    int64_t steps_done = 0;
    double loss = 0, rate = 0, pull_s = -1, global_loss = 0;
    int64_t global_step = -1;  // -1: no global loss reported yet
    bool rows = false;         // rate is rows/s (MLP), not tokens/s
    bool seen = false;
  };
  int64_t total_steps_;
  std::vector<WorkerState> workers_;
};

// Runs the job to the end: starts the servers, waits for their ports,
// starts the workers, streams and logs their output, shows progress, and on
// the workers' completion stops the servers. A process that dies is
// restarted (--restart_failed, at most --max_restarts times) or ends the
// job; SIGINT/SIGTERM to the launcher stop everything it started. Returns
// the exit status: 0 when every worker exited 0, the failing worker's
// status, 1 for a server failure, 124 on --timeout, 128 + signal when
// interrupted. Blocks until everything it started has exited.
int RunJob(const LaunchOptions& options);

}  // namespace pserve

#endif  // PSERVE_TOOLS_LAUNCH_LAUNCH_H_
