// ps_launch end to end: a real 2-server, 2-worker job on loopback started by
// the launcher binary; its streamed output, Ctrl-C cleanup, a killed worker
// reported, and --restart_failed bringing a killed worker back. Every wait
// is bounded; only processes this test or the launcher started are
// signalled, by PID. Single-threaded.
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "cluster/local_cluster.h"
#include "tests/worker_test_util.h"

namespace pserve {
namespace {

// ps_launch with 2 servers and 2 tiny workers on `data`, logs in `logs`.
std::vector<std::string> LaunchArgv(
    const std::string& data, const std::string& logs, int steps,
    const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv = {
      RunfilePath("tools/launch/ps_launch"),
      "--servers=2",
      "--workers=2",
      "--log_dir=" + logs,
      "--server_binary=" + RunfilePath("server/ps_server"),
      "--progress=plain",
      "--progress_every=1"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  for (const std::string& f :
       {std::string("--"), RunfilePath("worker/ps_worker"),
        "--data=" + data + "/train.bin", std::string("--model=tiny"),
        std::string("--batch_size=4"), std::string("--seq_len=32"),
        "--steps=" + std::to_string(steps), std::string("--log_every=1"),
        std::string("--threads=1"), "--export=" + logs + "/model.bin"})
    argv.push_back(f);
  return argv;
}

// Waits up to timeout_s for `needle` in the file; true if it appeared.
bool WaitForText(const std::string& path, const std::string& needle,
                 int timeout_s) {
  for (int i = 0; i < timeout_s * 10; ++i) {
    if (ReadTextFile(path).find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// name ("worker 1") -> last PID started under it, from pids.txt.
std::map<std::string, pid_t> Pids(const std::string& logs) {
  std::map<std::string, pid_t> pids;
  std::istringstream in(ReadTextFile(logs + "/pids.txt"));
  std::string kind, index;
  pid_t pid;
  while (in >> pid >> kind >> index) pids[kind + " " + index] = pid;
  return pids;
}

// How many PIDs listed in pids.txt still run.
int StillRunning(const std::string& logs) {
  int n = 0;
  std::istringstream in(ReadTextFile(logs + "/pids.txt"));
  std::string line;
  while (std::getline(in, line))
    if (kill(std::stoi(line), 0) == 0) ++n;
  return n;
}

// A launcher started on its own corpus in TestTempDir()/name, with the
// first steps of worker 1 seen (training) or not.
struct RunningJob {
  std::string dir, logs;
  Started launch;
  bool training = false;
};
RunningJob StartJob(const std::string& name, int steps,
                    const std::vector<std::string>& extra = {}) {
  RunningJob j;
  j.dir = TestTempDir() + "/" + name;
  j.logs = j.dir + "/logs";
  j.launch = StartProcess(
      LaunchArgv(PrepareCorpus(j.dir), j.logs, steps, extra), j.dir + "/out");
  j.training = WaitForText(j.logs + "/worker-1.log", "] step 2 ", 120);
  return j;
}

TEST_CASE("ps_launch runs a job, streams every process and stops the servers") {
  const std::string dir = TestTempDir() + "/launch-run";
  const std::string data = PrepareCorpus(dir);
  const std::string logs = dir + "/logs";
  const ProcessResult r = RunProcess(LaunchArgv(data, logs, 12), 300);
  INFO(r.output);
  CHECK(r.exit_code == 0);
  for (const char* s : {"[server 0] ", "[server 1] ", "[worker 0] ",
                        "[worker 1] ", "step 12/12  loss ", "RESULT step=12"})
    CHECK(r.output.find(s) != std::string::npos);
  CHECK(ReadTextFile(logs + "/worker-1.log").find("RESULT step=12") !=
        std::string::npos);
  CHECK(ReadTextFile(logs + "/server-0.log").find("shutting down") !=
        std::string::npos);
  CHECK(Pids(logs).size() == 4);
  CHECK(StillRunning(logs) == 0);
}

TEST_CASE("SIGINT to ps_launch stops every process it started") {
  RunningJob j = StartJob("launch-int", 100000);
  kill(j.launch.pid, SIGINT);
  const ProcessResult r = WaitProcess(j.launch, 60);
  const std::string logs = j.logs;
  INFO(r.output);
  CHECK(j.training);
  CHECK(r.exit_code == 130);
  CHECK(r.output.find("interrupted by signal 2") != std::string::npos);
  // The workers are stopped before the servers, so each finishes its step
  // in time instead of waiting for servers that are gone.
  CHECK(r.output.find("ignored SIGTERM") == std::string::npos);
  CHECK(ReadTextFile(logs + "/worker-0.log").find("stopping after step") !=
        std::string::npos);
  CHECK(Pids(logs).size() == 4);
  CHECK(StillRunning(logs) == 0);
}

TEST_CASE("a killed worker is reported and the job stops with its status") {
  RunningJob j = StartJob("launch-kill", 100000);
  const std::string logs = j.logs;
  const pid_t victim = Pids(logs)["worker 1"];
  if (victim > 0) kill(victim, SIGKILL);
  const ProcessResult r = WaitProcess(j.launch, 60);
  INFO(r.output);
  CHECK(j.training);
  CHECK(victim > 0);
  CHECK(r.exit_code == 128 + SIGKILL);
  CHECK(r.output.find("worker 1 (pid " + std::to_string(victim) +
                      ") was killed by signal 9 (SIGKILL)") !=
        std::string::npos);
  CHECK(StillRunning(logs) == 0);
}

TEST_CASE("--restart_failed brings a killed worker back and the job finishes") {
  RunningJob j = StartJob("launch-restart", 300, {"--restart_failed"});
  const std::string logs = j.logs;
  const pid_t victim = Pids(logs)["worker 1"];
  if (victim > 0) kill(victim, SIGKILL);
  const ProcessResult r = WaitProcess(j.launch, 240);
  INFO(r.output);
  CHECK(j.training);
  CHECK(victim > 0);
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("restarting it with the same flags") !=
        std::string::npos);
  CHECK(Pids(logs)["worker 1"] != victim);
  CHECK(ReadTextFile(logs + "/worker-1.log").find("resuming at step") !=
        std::string::npos);
  CHECK(StillRunning(logs) == 0);
}

}  // namespace
}  // namespace pserve
