// RunJob: ps_launch's supervisor. One thread (the caller's) polls every
// child's output pipe, writes each line to the child's log file and,
// prefixed, to stdout, feeds the workers' lines to the progress tracker,
// reaps children and decides: restart, stop everything, or finish. The
// signal handler only stores the signal number.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cluster/local_cluster.h"
#include "tools/launch/launch.h"

namespace pserve {
namespace {

std::atomic<int> g_signal{0};
void OnSignal(int sig) { g_signal.store(sig); }

using Clock = std::chrono::steady_clock;

// One child: its command line, pipe, log file and recent lines.
struct Child {
  std::string name;  // "server 0", "worker 1"
  bool worker = false;
  int index = 0;
  std::vector<std::string> argv;
  pid_t pid = -1;
  int fd = -1;
  std::FILE* log = nullptr;
  std::string partial;           // output after the last newline
  std::deque<std::string> tail;  // the last lines, for failure reports
  int restarts = 0;
  bool running = false;
  int port = 0;  // servers: the port they reported
};

class Job {
 public:
  explicit Job(const LaunchOptions& o) : o_(o), progress_(o.workers, o.steps) {}
  ~Job();
  int Run();

 private:
  absl::Status Start(Child& c);
  absl::Status StartServers();
  void Pump(int timeout_ms);
  void Drain(Child& c);
  void OnLine(Child& c, const std::string& line);
  // Reaps exited children; returns a job exit status when the job must end.
  std::optional<int> Reap();
  std::optional<int> OnExit(Child& c, int code);
  // Stops every running child, the workers before the servers.
  int StopAll(int status);
  // SIGTERMs the running workers (or servers), waits up to 15 s for them,
  // SIGKILLs the rest; returns `status`, or 1 when it was 0 and one of them
  // did not exit cleanly.
  int StopGroup(bool workers, int status);
  int Supervise();
  void Say(const std::string& msg);
  void ShowProgress(bool final_line);
  void ClearProgress();
  std::string Where() const {
    return absl::StrCat("logs in ", o_.log_dir, "/");
  }

  const LaunchOptions& o_;
  ProgressTracker progress_;
  std::vector<std::unique_ptr<Child>> children_;  // servers, then workers
  std::FILE* pids_ = nullptr;
  bool tty_ = false, shown_ = false;
  Clock::time_point t0_ = Clock::now(), last_progress_{};
  int workers_done_ = 0;
};

Job::~Job() {
  for (auto& c : children_) {
    if (c->fd >= 0) close(c->fd);
    if (c->log) std::fclose(c->log);
  }
  if (pids_) std::fclose(pids_);
}

absl::Status Job::Start(Child& c) {
  if (!c.log)
    c.log = std::fopen(
        absl::StrCat(o_.log_dir, "/", c.worker ? "worker-" : "server-", c.index,
                     ".log")
            .c_str(),
        "a");
  if (!c.log) return absl::InternalError("cannot write " + o_.log_dir);
  absl::StatusOr<PipedProcess> p = StartPiped(c.argv);
  if (!p.ok()) return p.status();
  c.pid = p->pid;
  c.fd = p->out_fd;
  c.running = true;
  std::fprintf(pids_, "%d %s\n", c.pid, c.name.c_str());
  std::fflush(pids_);
  return absl::OkStatus();
}

absl::Status Job::StartServers() {
  for (int s = 0; s < o_.servers; ++s) {
    auto c = std::make_unique<Child>();
    c->name = absl::StrCat("server ", s);
    c->index = s;
    const std::string pf = absl::StrCat(o_.log_dir, "/server-", s, ".port");
    std::remove(pf.c_str());
    c->argv = ServerArgv(o_, s, pf, 0);
    absl::Status st = Start(*c);
    children_.push_back(std::move(c));
    if (!st.ok()) return st;
  }
  for (int s = 0; s < o_.servers; ++s) {
    Child& c = *children_[s];
    const std::string pf = absl::StrCat(o_.log_dir, "/server-", s, ".port");
    absl::StatusOr<int> port = WaitForPortFile(
        pf, c.pid, std::chrono::seconds(60));  // drains nothing: servers
    Drain(c);                                  // log little before listening
    if (!port.ok() &&
        port.status().code() == absl::StatusCode::kFailedPrecondition)
      c.running = false;  // WaitForPortFile reaped it
    if (!port.ok())
      return absl::Status(port.status().code(),
                          absl::StrCat(c.name, ": ", port.status().message()));
    c.port = *port;
    c.argv = ServerArgv(o_, s, pf, c.port);  // a restart keeps the address
  }
  return absl::OkStatus();
}

void Job::OnLine(Child& c, const std::string& line) {
  std::fprintf(c.log, "%s\n", line.c_str());
  c.tail.push_back(line);
  if (c.tail.size() > 20) c.tail.pop_front();
  if (c.worker) progress_.OnWorkerLine(c.index, line);
  if (!o_.stream) return;
  ClearProgress();
  std::printf("[%s] %s\n", c.name.c_str(), line.c_str());
}

void Job::Drain(Child& c) {
  char buf[65536];
  while (c.fd >= 0) {
    const ssize_t n = read(c.fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;  // EAGAIN: nothing more now
    if (n == 0) {      // EOF: the child and its copies of the pipe are gone
      if (!c.partial.empty()) OnLine(c, c.partial);
      c.partial.clear();
      close(c.fd);
      c.fd = -1;
      break;
    }
    c.partial.append(buf, n);
    size_t nl;
    while ((nl = c.partial.find('\n')) != std::string::npos) {
      OnLine(c, c.partial.substr(0, nl));
      c.partial.erase(0, nl + 1);
    }
  }
  std::fflush(c.log);
  std::fflush(stdout);
}

void Job::Pump(int timeout_ms) {
  std::vector<pollfd> fds;
  std::vector<Child*> who;
  for (auto& c : children_)
    if (c->fd >= 0) {
      fds.push_back({c->fd, POLLIN, 0});
      who.push_back(c.get());
    }
  if (poll(fds.data(), fds.size(), timeout_ms) <= 0) return;
  for (size_t i = 0; i < fds.size(); ++i)
    if (fds[i].revents != 0) Drain(*who[i]);
}

void Job::ClearProgress() {
  if (tty_ && shown_) std::printf("\r\033[K");
  shown_ = false;
}

void Job::Say(const std::string& msg) {
  ClearProgress();
  std::fflush(stdout);
  std::fprintf(stderr, "ps_launch: %s\n", msg.c_str());
}

void Job::ShowProgress(bool final_line) {
  if (o_.progress == ProgressStyle::kNone) return;
  const auto now = Clock::now();
  const double every = tty_ ? 1.0 : o_.progress_every_s;
  if (!final_line &&
      std::chrono::duration<double>(now - last_progress_).count() < every)
    return;
  last_progress_ = now;
  const std::string line =
      progress_.Line(std::chrono::duration<double>(now - t0_).count());
  if (tty_) {
    std::printf("\r\033[K%s%s", line.c_str(), final_line ? "\n" : "");
    shown_ = !final_line;
  } else {
    std::printf("%s\n", line.c_str());
  }
  std::fflush(stdout);
}

std::optional<int> Job::OnExit(Child& c, int code) {
  c.running = false;
  Drain(c);
  if (c.worker && code == 0) {
    ++workers_done_;
    return std::nullopt;
  }
  const std::string what =
      absl::StrCat(c.name, " (pid ", c.pid, ") ", DescribeExit(code));
  if (o_.restart_failed && c.restarts < o_.max_restarts) {
    ++c.restarts;
    Say(absl::StrCat(what, "; restarting it with the same flags (restart ",
                     c.restarts, " of at most ", o_.max_restarts, ")"));
    std::fprintf(c.log, "--- ps_launch: %s; restarted ---\n", what.c_str());
    if (c.fd >= 0) close(c.fd);
    c.fd = -1;
    absl::Status s = Start(c);
    if (s.ok()) return std::nullopt;
    Say(absl::StrCat("cannot restart ", c.name, ": ", s.message()));
  } else {
    Say(absl::StrCat(what, c.worker ? "" : " while the workers ran",
                     "; stopping everything. Last lines of its log:"));
    for (const std::string& l : c.tail)
      std::fprintf(stderr, "  | %s\n", l.c_str());
  }
  return c.worker && code > 0 ? code : 1;
}

std::optional<int> Job::Reap() {
  for (auto& c : children_) {
    if (!c->running) continue;
    const std::optional<int> code = PollExit(c->pid);
    if (!code.has_value()) continue;
    std::optional<int> end = OnExit(*c, *code);
    if (end.has_value()) return end;
  }
  return std::nullopt;
}

int Job::StopAll(int status) {
  // Workers first: on SIGTERM a worker finishes its step and pulls the
  // parameters once more, which needs the servers still up.
  status = StopGroup(/*workers=*/true, status);
  return StopGroup(/*workers=*/false, status);
}

int Job::StopGroup(bool workers, int status) {
  std::vector<pid_t> pids;
  std::vector<Child*> who;
  for (auto& c : children_)
    if (c->running && c->worker == workers) {
      pids.push_back(c->pid);
      who.push_back(c.get());
    }
  const std::vector<int> codes =
      StopProcesses(pids, std::chrono::seconds(15), [this] { Pump(0); });
  for (size_t i = 0; i < who.size(); ++i) {
    who[i]->running = false;
    Drain(*who[i]);
    if (codes[i] < 0) Say(who[i]->name + " ignored SIGTERM for 15 s; killed");
    // A server stopped after a finished job must exit cleanly.
    if (status == 0 && codes[i] != 0) {
      Say(absl::StrCat(who[i]->name, " ", DescribeExit(codes[i]),
                       " on SIGTERM"));
      status = 1;
    }
  }
  return status;
}

int Job::Run() {
  std::error_code ec;
  std::filesystem::create_directories(o_.log_dir, ec);
  const std::string pid_file =
      o_.pid_file.empty() ? o_.log_dir + "/pids.txt" : o_.pid_file;
  pids_ = std::fopen(pid_file.c_str(), "a");
  if (!pids_) {
    Say(absl::StrCat("cannot write ", pid_file,
                     "; pick a writable --log_dir or --pid_file"));
    return 2;
  }
  tty_ = o_.progress == ProgressStyle::kTty ||
         (o_.progress == ProgressStyle::kAuto && isatty(1));
  absl::Status s = StartServers();
  if (!s.ok()) {
    Say(absl::StrCat(s.message(), "; ", Where()));
    return StopAll(1);
  }
  std::vector<std::string> addrs;
  for (auto& c : children_)
    addrs.push_back(absl::StrCat("127.0.0.1:", c->port));
  const std::string servers = absl::StrJoin(addrs, ",");
  Say(absl::StrCat(o_.servers, " server(s) on ", servers, ", mode ", o_.mode,
                   "; starting ", o_.workers, " worker(s); ", Where()));
  for (int r = 0; r < o_.workers; ++r) {
    auto c = std::make_unique<Child>();
    c->name = absl::StrCat("worker ", r);
    c->worker = true;
    c->index = r;
    c->argv = WorkerArgv(o_, r, servers);
    s = Start(*c);
    children_.push_back(std::move(c));
    if (!s.ok()) {
      Say(std::string(s.message()));
      return StopAll(1);
    }
  }
  t0_ = Clock::now();
  return Supervise();
}

int Job::Supervise() {
  while (workers_done_ < o_.workers) {
    Pump(200);
    if (const int sig = g_signal.load(); sig != 0) {
      Say(absl::StrCat("interrupted by signal ", sig, "; stopping the ",
                       "processes it started; ", Where()));
      return StopAll(128 + sig);
    }
    if (std::optional<int> end = Reap(); end.has_value()) {
      Say(Where());
      return StopAll(*end);
    }
    const double ran =
        std::chrono::duration<double>(Clock::now() - t0_).count();
    if (o_.timeout_s > 0 && ran > o_.timeout_s) {
      Say(absl::StrCat("--timeout=", o_.timeout_s, " reached; stopping"));
      return StopAll(124);
    }
    ShowProgress(false);
  }
  ShowProgress(true);
  const int status = StopAll(0);
  if (status == 0)
    Say(absl::StrCat(o_.workers, " worker(s) finished ", o_.steps,
                     " steps; servers stopped; ", Where()));
  return status;
}

}  // namespace

int RunJob(const LaunchOptions& options) {
  struct sigaction action = {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);
  Job job(options);
  return job.Run();
}

}  // namespace pserve
