// Child processes on pipes, reaping, stopping and port files: the pieces of
// process supervision that LocalCluster and ps_launch share. Stateless;
// every function is safe to call from any thread (fork is followed only by
// async-signal-safe calls before exec).
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "cluster/local_cluster.h"

namespace pserve {
namespace {

// In the child between fork and exec: only async-signal-safe calls.
[[noreturn]] void ExecChild(char* const* args, int out_fd, pid_t parent) {
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) _exit(127);  // the parent is already gone
  const int null_fd = open("/dev/null", O_RDONLY);
  if (null_fd >= 0) dup2(null_fd, 0);
  dup2(out_fd, 1);
  dup2(out_fd, 2);
  execv(args[0], args);
  _exit(127);
}

}  // namespace

absl::StatusOr<PipedProcess> StartPiped(const std::vector<std::string>& argv) {
  if (argv.empty() || access(argv[0].c_str(), X_OK) != 0)
    return absl::NotFoundError(
        absl::StrCat("'", argv.empty() ? "" : argv[0],
                     "' is not an executable file; build it or fix the path"));
  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) ExecChild(args.data(), fds[1], parent);
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    return absl::InternalError(
        absl::StrCat("cannot start ", argv[0], ": ", std::strerror(errno)));
  }
  setpgid(pid, pid);  // also here, so it holds before the child runs
  fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
  return PipedProcess{pid, fds[0]};
}

std::optional<int> PollExit(pid_t pid) {
  int status = 0;
  const pid_t r = waitpid(pid, &status, WNOHANG);
  if (r == 0) return std::nullopt;
  if (r < 0) return -1;  // not our child (already reaped)
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::vector<int> StopProcesses(const std::vector<pid_t>& pids,
                               std::chrono::milliseconds grace,
                               const std::function<void()>& while_waiting) {
  std::vector<std::optional<int>> codes(pids.size());
  for (pid_t pid : pids) kill(pid, SIGTERM);
  const auto end = std::chrono::steady_clock::now() + grace;
  size_t left = pids.size();
  while (left > 0 && std::chrono::steady_clock::now() < end) {
    for (size_t i = 0; i < pids.size(); ++i) {
      if (codes[i].has_value()) continue;
      codes[i] = PollExit(pids[i]);
      if (codes[i].has_value()) --left;
    }
    if (left == 0) break;
    if (while_waiting) while_waiting();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::vector<int> out;
  for (size_t i = 0; i < pids.size(); ++i) {
    if (!codes[i].has_value()) {
      kill(pids[i], SIGKILL);
      waitpid(pids[i], nullptr, 0);
    }
    out.push_back(codes[i].value_or(-1));
  }
  return out;
}

absl::StatusOr<int> WaitForPortFile(const std::string& path, pid_t pid,
                                    std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    int port = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadTextFile(path)),
                         &port) &&
        port > 0)
      return port;
    const std::optional<int> code = PollExit(pid);
    if (code.has_value())
      return absl::FailedPreconditionError(absl::StrCat(
          "it ", DescribeExit(*code), " before reporting its port"));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("no port in ", path, " after ", timeout.count(), " ms"));
}

std::string ReadTextFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string DescribeExit(int exit_code) {
  if (exit_code < 0) return "was killed after ignoring SIGTERM";
  if (exit_code <= 128) return absl::StrCat("exited with status ", exit_code);
  const int sig = exit_code - 128;
  const char* name = sigabbrev_np(sig);
  return absl::StrCat("was killed by signal ", sig,
                      name ? absl::StrCat(" (SIG", name, ")") : "");
}

}  // namespace pserve
