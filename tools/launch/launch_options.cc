// ps_launch's command line: launcher flags, pass-through server flags, the
// worker command after "--", and the per-process command lines built from
// them. Pure functions (binary lookup reads the filesystem); thread-safe.
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/consistency_mode.h"
#include "tools/launch/launch.h"

namespace pserve {
namespace {

// Flags ps_launch sets on every process; a user's copy would contradict it.
const std::set<std::string>& ServerReserved() {
  static const auto* s = new std::set<std::string>{
      "port", "server_id", "num_servers", "num_workers", "port_file", "mode"};
  return *s;
}
const std::set<std::string>& WorkerReserved() {
  static const auto* s =
      new std::set<std::string>{"servers", "rank", "num_workers", "mode"};
  return *s;
}
// Only rank 0 evaluates, exports and checkpoints (unless the flag's value
// names %RANK%, which makes it per-rank).
const std::set<std::string>& RankZeroOnly() {
  static const auto* s = new std::set<std::string>{
      "export",       "val_data",         "eval_every",
      "eval_batches", "checkpoint_every", "metrics_file"};
  return *s;
}

// "--name=value" or "--name" -> name; "" for anything else.
std::string FlagName(const std::string& arg) {
  if (!absl::StartsWith(arg, "--") || arg.size() == 2) return "";
  return arg.substr(2, arg.find('=') - 2);
}

bool IsExecutable(const std::string& path) {
  return access(path.c_str(), X_OK) == 0;
}

std::string Dir(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

// A name without "/": beside `near`, beside ps_launch, in Bazel's bazel-bin
// layout (bazel-bin/tools/launch/ps_launch -> bazel-bin/<folder>/<name>),
// then on PATH.
absl::StatusOr<std::string> FindBinary(const std::string& name,
                                       const std::string& folder,
                                       const std::string& self,
                                       const std::string& near) {
  if (absl::StrContains(name, '/')) {
    if (IsExecutable(name)) return name;
    return absl::NotFoundError(
        absl::StrCat(name, " is not an executable file; build it first"));
  }
  std::vector<std::string> tries;
  if (!near.empty()) tries.push_back(absl::StrCat(Dir(near), "/", name));
  tries.push_back(absl::StrCat(Dir(self), "/", name));
  tries.push_back(absl::StrCat(Dir(self), "/../../", folder, "/", name));
  const char* path = std::getenv("PATH");
  for (absl::string_view d : absl::StrSplit(path ? path : "", ':'))
    if (!d.empty()) tries.push_back(absl::StrCat(d, "/", name));
  for (const std::string& t : tries)
    if (IsExecutable(t)) return t;
  return absl::NotFoundError(
      absl::StrCat("cannot find ", name,
                   " beside ps_launch, in bazel-bin or on PATH; "
                   "build //",
                   folder, ":", name, " or give its path"));
}

absl::Status Bad(const std::string& msg) {
  return absl::InvalidArgumentError(msg);
}

absl::Status ParseInt(const std::string& flag, const std::string& value, int lo,
                      int hi, int* out) {
  if (!absl::SimpleAtoi(value, out) || *out < lo || *out > hi)
    return Bad(absl::StrCat("--", flag, " wants a whole number from ", lo,
                            " to ", hi, ", got '", value, "'"));
  return absl::OkStatus();
}

absl::Status ParseProgress(const std::string& v, ProgressStyle* out) {
  if (v == "auto")
    *out = ProgressStyle::kAuto;
  else if (v == "tty")
    *out = ProgressStyle::kTty;
  else if (v == "plain")
    *out = ProgressStyle::kPlain;
  else if (v == "none")
    *out = ProgressStyle::kNone;
  else
    return Bad(absl::StrCat(
        "--progress must be auto, tty, plain or none, got '", v, "'"));
  return absl::OkStatus();
}

absl::Status ParseBool(const std::string& flag, const std::string& v,
                       bool* out) {
  if (v == "" || v == "true" || v == "1")
    *out = true;
  else if (v == "false" || v == "0")
    *out = false;
  else
    return Bad(absl::StrCat("--", flag, " is true or false, got '", v, "'"));
  return absl::OkStatus();
}

// One launcher flag; false in *mine when `name` is not the launcher's.
absl::Status ApplyLauncherFlag(const std::string& name, const std::string& v,
                               LaunchOptions* o, bool* mine) {
  *mine = true;
  if (name == "servers") return ParseInt(name, v, 1, 256, &o->servers);
  if (name == "workers") return ParseInt(name, v, 1, 256, &o->workers);
  if (name == "max_restarts")
    return ParseInt(name, v, 0, 1000, &o->max_restarts);
  if (name == "progress_every")
    return ParseInt(name, v, 1, 3600, &o->progress_every_s);
  if (name == "timeout") return ParseInt(name, v, 0, 604800, &o->timeout_s);
  if (name == "progress") return ParseProgress(v, &o->progress);
  if (name == "stream") return ParseBool(name, v, &o->stream);
  if (name == "restart_failed") return ParseBool(name, v, &o->restart_failed);
  if (name == "log_dir")
    o->log_dir = v;
  else if (name == "pid_file")
    o->pid_file = v;
  else if (name == "server_binary")
    o->server_binary = v;
  else if (name == "mode") {
    absl::StatusOr<ConsistencyMode> mode = ParseConsistencyMode(v);
    if (!mode.ok())
      return Bad(absl::StrCat("--mode: ", mode.status().message()));
    o->mode = v;  // passed on to every server and worker as the same word
  } else {
    *mine = false;
  }
  return absl::OkStatus();
}

// Reads the worker's --steps (for the ETA) and refuses reserved flags.
absl::Status CheckWorkerFlags(LaunchOptions* o) {
  for (size_t i = 1; i < o->worker_argv.size(); ++i) {
    const std::string& a = o->worker_argv[i];
    const std::string name = FlagName(a);
    if (WorkerReserved().count(name))
      return Bad(absl::StrCat("drop ", a,
                              " after '--': ps_launch sets "
                              "--servers, --rank, --num_workers and --mode"));
    if (name == "steps") {
      const std::string v = a.size() > 8 ? a.substr(8)
                            : i + 1 < o->worker_argv.size()
                                ? o->worker_argv[i + 1]
                                : "";
      int steps = 0;
      absl::Status s = ParseInt("steps", v, 1, 2000000000, &steps);
      if (!s.ok()) return s;
      o->steps = steps;
    }
  }
  return absl::OkStatus();
}

std::string DefaultLogDir() {
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", std::localtime(&now));
  return absl::StrCat("ps_launch-", stamp);
}

}  // namespace

std::string LaunchUsage() {
  return R"(Usage: ps_launch --servers=S --workers=W [--mode=sync|async|ssp]
                 [launcher flags] [ps_server flags] -- ps_worker [ps_worker flags]

Starts S parameter servers (free loopback ports, reported through port
files) and W workers on this machine, fills in --server_id, --num_servers,
--num_workers, --rank, --servers and --mode, streams every process's output
prefixed with its name, shows one progress line, and stops everything it
started when the workers finish, when a process dies, or on Ctrl-C/SIGTERM.
Exits with the workers' status (0: all finished).

Launcher flags (every other flag before "--" goes to each ps_server):
  --servers=S           parameter servers (default 1)
  --workers=W           workers (default 1)
  --mode=M              sync, async or ssp, for servers and workers (default sync)
  --log_dir=DIR         server-<i>.log, worker-<r>.log, pids.txt
                        (default ps_launch-<date>-<time>)
  --pid_file=PATH       "PID name" of every process started, one a line
                        (default DIR/pids.txt)
  --server_binary=PATH  ps_server (default: beside the worker binary,
                        beside ps_launch, in bazel-bin, or on PATH)
  --stream=false        do not copy the logs to stdout (they still go to DIR)
  --restart_failed      restart a process that dies, with the same flags
                        (a server keeps its port), up to --max_restarts
  --max_restarts=N      restarts per process (default 3)
  --progress=P          auto (tty on a terminal, else plain), tty, plain, none
  --progress_every=S    seconds between plain progress lines (default 10)
  --timeout=S           stop the job after S seconds, exit 124 (default 0: none)

Worker flags: --export, --val_data, --eval_every, --eval_batches,
--metrics_file and --checkpoint_every go to rank 0 only (the servers
write checkpoints into their own --checkpoint_dir, a server flag),
unless their value contains %RANK% (replaced by each worker's rank).
)";
}

absl::StatusOr<LaunchOptions> ParseLaunchArgs(
    const std::string& self, const std::vector<std::string>& args) {
  LaunchOptions o;
  size_t i = 0;
  for (; i < args.size() && args[i] != "--"; ++i) {
    const std::string name = FlagName(args[i]);
    const size_t eq = args[i].find('=');
    const std::string value =
        eq == std::string::npos ? "" : args[i].substr(eq + 1);
    if (ServerReserved().count(name) && name != "mode")
      return Bad(absl::StrCat("drop ", args[i],
                              ": ps_launch sets --port, "
                              "--server_id, --num_servers, --num_workers and "
                              "--port_file itself"));
    bool mine = false;
    absl::Status s = ApplyLauncherFlag(name, value, &o, &mine);
    if (!s.ok()) return s;
    if (!mine) o.server_flags.push_back(args[i]);
  }
  if (i + 1 >= args.size())
    return Bad("no worker command: end with '-- ps_worker [worker flags]'");
  o.worker_argv.assign(args.begin() + i + 1, args.end());
  absl::StatusOr<std::string> worker =
      FindBinary(o.worker_argv[0], "worker", self, "");
  if (!worker.ok()) return worker.status();
  o.worker_argv[0] = *worker;
  absl::StatusOr<std::string> server =
      FindBinary(o.server_binary.empty() ? "ps_server" : o.server_binary,
                 "server", self, *worker);
  if (!server.ok()) return server.status();
  o.server_binary = *server;
  if (o.log_dir.empty()) o.log_dir = DefaultLogDir();
  absl::Status s = CheckWorkerFlags(&o);
  if (!s.ok()) return s;
  return o;
}

std::vector<std::string> ServerArgv(const LaunchOptions& o, int id,
                                    const std::string& port_file, int port) {
  std::vector<std::string> argv = {o.server_binary,
                                   absl::StrCat("--port=", port),
                                   absl::StrCat("--port_file=", port_file),
                                   absl::StrCat("--server_id=", id),
                                   absl::StrCat("--num_servers=", o.servers),
                                   absl::StrCat("--num_workers=", o.workers),
                                   absl::StrCat("--mode=", o.mode)};
  bool has_bind = false;
  for (const std::string& f : o.server_flags) {
    has_bind = has_bind || FlagName(f) == "bind_address";
    argv.push_back(f);
  }
  if (!has_bind) argv.push_back("--bind_address=127.0.0.1");
  return argv;
}

std::vector<std::string> WorkerArgv(const LaunchOptions& o, int rank,
                                    const std::string& servers) {
  std::vector<std::string> argv = {o.worker_argv[0]};
  const std::string r = absl::StrCat(rank);
  for (size_t i = 1; i < o.worker_argv.size(); ++i) {
    const std::string& f = o.worker_argv[i];
    const bool per_rank = absl::StrContains(f, "%RANK%");
    if (rank != 0 && !per_rank && RankZeroOnly().count(FlagName(f))) {
      const bool value_follows = !absl::StrContains(f, '=') &&
                                 i + 1 < o.worker_argv.size() &&
                                 !absl::StartsWith(o.worker_argv[i + 1], "--");
      if (value_follows) ++i;
      continue;
    }
    argv.push_back(absl::StrReplaceAll(f, {{"%RANK%", r}}));
  }
  argv.push_back(absl::StrCat("--servers=", servers));
  argv.push_back(absl::StrCat("--rank=", rank));
  argv.push_back(absl::StrCat("--num_workers=", o.workers));
  argv.push_back(absl::StrCat("--mode=", o.mode));
  return argv;
}

}  // namespace pserve
