// Process supervision for tests, benchmarks and ps_launch: posix_spawn, port
// files, bounded waits, and SIGTERM/SIGKILL of the processes this file started.
#include "cluster/local_cluster.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

extern char** environ;

namespace pserve {
namespace {

pid_t Spawn(const std::vector<std::string>& argv, const std::string& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ) != 0)
    pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

// Waits up to timeout for pid to exit; returns its exit code or -1.
int WaitExit(pid_t pid, std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid)
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (r < 0) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

}  // namespace

std::string RunfilePath(const std::string& relative) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* ws = std::getenv("TEST_WORKSPACE");
  if (srcdir == nullptr) return relative;
  return absl::StrCat(srcdir, "/", ws ? ws : "pserve", "/", relative);
}

std::string TestTempDir() {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string dir = absl::StrCat(tmp ? tmp : "/tmp", "/pserve-", getpid());
  std::system(absl::StrCat("mkdir -p ", dir).c_str());
  return dir;
}

Started StartProcess(const std::vector<std::string>& argv,
                     const std::string& log) {
  return Started{Spawn(argv, log), log};
}

ProcessResult WaitProcess(const Started& p, int timeout_s) {
  ProcessResult r;
  if (p.pid < 0) return r;
  r.exit_code = WaitExit(p.pid, std::chrono::seconds(timeout_s));
  if (r.exit_code == -1) {
    kill(p.pid, SIGKILL);
    waitpid(p.pid, nullptr, 0);
  }
  r.output = ReadTextFile(p.log);
  return r;
}

ProcessResult RunProcess(const std::vector<std::string>& argv, int timeout_s) {
  static std::atomic<int> counter{0};
  const std::string log =
      absl::StrCat(TestTempDir(), "/run-", counter.fetch_add(1), ".log");
  return WaitProcess(StartProcess(argv, log), timeout_s);
}

absl::StatusOr<LocalCluster> LocalCluster::Start(
    int num_servers, const std::vector<std::string>& flags,
    const std::string& server_binary) {
  LocalCluster c;
  const std::string dir = TestTempDir();
  static int cluster_id = 0;
  const int id = cluster_id++;
  std::vector<std::string> port_files;
  for (int s = 0; s < num_servers; ++s) {
    port_files.push_back(absl::StrCat(dir, "/c", id, "-s", s, ".port"));
    c.logs_.push_back(absl::StrCat(dir, "/c", id, "-s", s, ".log"));
    std::vector<std::string> argv = {
        server_binary.empty() ? RunfilePath("server/ps_server") : server_binary,
        "--port=0",
        "--bind_address=127.0.0.1",
        absl::StrCat("--server_id=", s),
        absl::StrCat("--num_servers=", num_servers),
        absl::StrCat("--port_file=", port_files.back())};
    for (std::string f : flags) {
      const size_t at = f.find("%ID%");
      if (at != std::string::npos) f.replace(at, 4, std::to_string(s));
      argv.push_back(f);
    }
    pid_t pid = Spawn(argv, c.logs_.back());
    if (pid < 0) return absl::InternalError("cannot start ps_server");
    c.pids_.push_back(pid);
    c.argvs_.push_back(std::move(argv));
  }
  c.port_files_ = port_files;
  for (int s = 0; s < num_servers; ++s) {
    absl::StatusOr<int> port =
        WaitForPortFile(port_files[s], c.pids_[s], std::chrono::seconds(30));
    if (!port.ok())
      return absl::Status(
          port.status().code(),
          absl::StrCat("ps_server ", s, ": ", port.status().message(),
                       "; log: ", ReadTextFile(c.logs_[s])));
    c.addresses_.push_back(absl::StrCat("127.0.0.1:", *port));
  }
  return c;
}

LocalCluster::LocalCluster(LocalCluster&& o) noexcept
    : pids_(std::move(o.pids_)),
      addresses_(std::move(o.addresses_)),
      logs_(std::move(o.logs_)),
      argvs_(std::move(o.argvs_)),
      port_files_(std::move(o.port_files_)),
      restarts_(o.restarts_) {
  o.pids_.clear();
}

void LocalCluster::Kill(int s) {
  if (pids_[s] < 0) return;
  kill(pids_[s], SIGKILL);
  waitpid(pids_[s], nullptr, 0);
  pids_[s] = -1;
}

absl::Status LocalCluster::Restart(int s) {
  std::vector<std::string> argv = argvs_[s];
  const std::string port = addresses_[s].substr(addresses_[s].rfind(':') + 1);
  for (std::string& a : argv)
    if (a == "--port=0") a = "--port=" + port;
  std::remove(port_files_[s].c_str());
  logs_[s] = absl::StrCat(logs_[s], ".restart-", ++restarts_);
  pids_[s] = Spawn(argv, logs_[s]);
  if (pids_[s] < 0) return absl::InternalError("cannot restart ps_server");
  absl::StatusOr<int> bound =
      WaitForPortFile(port_files_[s], pids_[s], std::chrono::seconds(30));
  if (!bound.ok())
    return absl::Status(
        bound.status().code(),
        absl::StrCat("ps_server ", s, ": ", bound.status().message(),
                     "; log: ", ReadTextFile(logs_[s])));
  return absl::OkStatus();
}

std::string LocalCluster::AddressList() const {
  return absl::StrJoin(addresses_, ",");
}

std::vector<int> LocalCluster::Stop() {
  std::vector<pid_t> running;  // a killed server's slot holds -1
  for (pid_t pid : pids_)
    if (pid > 0) running.push_back(pid);
  std::vector<int> codes = StopProcesses(running, std::chrono::seconds(10));
  pids_.clear();
  return codes;
}

LocalCluster::~LocalCluster() { Stop(); }

}  // namespace pserve
