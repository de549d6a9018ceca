// Fault tolerance end to end on loopback, with real kill -9: a sync job of
// 2 servers and 2 workers (tiny GPT, AdamW, 40 steps, server checkpoints
// every 10) whose worker or server is killed and restarted with the same
// flags ends with a model byte-identical to the run with no fault; an
// async job survives a server restart and reports the steps it lost; a
// corrupt newest checkpoint is skipped for the one before it.
#include <signal.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cluster/local_cluster.h"
#include "tests/worker_test_util.h"

namespace pserve {
namespace {

constexpr int kSteps = 40;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Waits until the file at `path` contains `text`; false after timeout_s.
bool WaitForText(const std::string& path, const std::string& text,
                 int timeout_s) {
  const auto end =
      std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (std::chrono::steady_clock::now() < end) {
    if (ReadAll(path).find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

std::vector<std::string> ServerFlags(const std::string& dir,
                                     const std::string& mode) {
  return {"--num_workers=2",         "--mode=" + mode,
          "--optimizer=adamw",       "--lr=1e-3",
          "--checkpoint_dir=" + dir, "--checkpoint_every=10"};
}

enum class Fault { kNone, kKillWorker, kKillServer };

struct JobResult {
  std::vector<ProcessResult> workers;  // the last process of each rank
  std::string model;                   // rank 0's exported model.bin
  std::string logs;                    // every worker and server log
};

// One job of 2 servers and 2 workers in `mode`, with `fault` injected.
JobResult RunJob(const std::string& name, const std::string& mode,
                 Fault fault) {
  const std::string dir = TestTempDir() + "/" + name;
  const std::string data = PrepareCorpus(TestTempDir() + "/corpus");
  auto cluster = LocalCluster::Start(2, ServerFlags(dir, mode));
  REQUIRE(cluster.ok());
  auto argv = [&](int rank) {
    std::vector<std::string> f = {"--servers=" + cluster->AddressList(),
                                  "--rank=" + std::to_string(rank),
                                  "--num_workers=2",
                                  "--mode=" + mode,
                                  "--data=" + data + "/train.bin",
                                  "--model=tiny",
                                  "--batch_size=8",
                                  "--steps=" + std::to_string(kSteps),
                                  "--eval_every=0",
                                  "--log_every=1",
                                  "--server_timeout=60"};
    if (rank == 0) f.push_back("--export=" + dir + "/model.bin");
    return WorkerArgv(f);
  };
  std::vector<Started> workers;
  for (int r = 0; r < 2; ++r)
    workers.push_back(StartProcess(argv(r), dir + "-w" + std::to_string(r)));
  bool injected = fault == Fault::kNone;
  if (fault == Fault::kKillWorker &&
      WaitForText(workers[1].log, "] step 14 loss", 120)) {
    kill(workers[1].pid, SIGKILL);
    waitpid(workers[1].pid, nullptr, 0);
    workers[1] = StartProcess(argv(1), dir + "-w1-again");
    injected = true;
  }
  if (fault == Fault::kKillServer &&
      WaitForText(cluster->log(1), "checkpoint of step 20 written", 120) &&
      WaitForText(workers[0].log, "] step 24 loss", 120)) {
    cluster->Kill(1);
    injected = cluster->Restart(1).ok();
  }
  JobResult job;
  for (const Started& w : workers) job.workers.push_back(WaitProcess(w, 300));
  cluster->Stop();
  for (const ProcessResult& w : job.workers) job.logs += w.output;
  for (int s = 0; s < 2; ++s) job.logs += ReadAll(cluster->log(s));
  job.model = ReadAll(dir + "/model.bin");
  INFO(job.logs);
  REQUIRE(injected);
  for (const ProcessResult& w : job.workers) REQUIRE(w.exit_code == 0);
  return job;
}

TEST_CASE("sync: a worker or server killed and restarted changes nothing") {
  const JobResult clean = RunJob("clean", "sync", Fault::kNone);
  REQUIRE(clean.model.size() > 1000);
  const JobResult worker = RunJob("worker-kill", "sync", Fault::kKillWorker);
  CHECK(worker.model == clean.model);
  const JobResult server = RunJob("server-kill", "sync", Fault::kKillServer);
  INFO(server.logs);
  CHECK(server.logs.find("restored version 20 from") != std::string::npos);
  CHECK(server.logs.find("rolling every server back to step 20") !=
        std::string::npos);
  CHECK(server.model == clean.model);
}

TEST_CASE("async: a server killed and restarted restores and reports loss") {
  const JobResult job = RunJob("async-kill", "async", Fault::kKillServer);
  INFO(job.logs);
  CHECK(job.logs.find("restored version ") != std::string::npos);
  CHECK(job.logs.find("steps of this rank's updates on it were lost") !=
        std::string::npos);
  for (const ProcessResult& w : job.workers)
    CHECK(Lines(w.output).back().rfind("RESULT step=40 ", 0) == 0);
}

TEST_CASE("a corrupt newest checkpoint is skipped for the one before it") {
  const std::string dir = TestTempDir() + "/corrupt";
  const std::string data = PrepareCorpus(TestTempDir() + "/corpus");
  const std::vector<std::string> flags = {
      "--num_workers=1", "--checkpoint_dir=" + dir, "--checkpoint_every=5"};
  auto run = [&](const LocalCluster& c, int steps) {
    return RunConcurrently(
        {WorkerArgv({"--servers=" + c.AddressList(),
                     "--data=" + data + "/train.bin", "--model=tiny",
                     "--batch_size=2", "--steps=" + std::to_string(steps),
                     "--eval_every=0", "--log_every=1"})},
        120)[0];
  };
  {
    auto cluster = LocalCluster::Start(1, flags);
    REQUIRE(cluster.ok());
    ProcessResult first = run(*cluster, 12);  // checkpoints at 5 and 10
    INFO(first.output);
    REQUIRE(first.exit_code == 0);
  }
  const std::string newest = dir + "/server-0-step-0000000010.ckpt";
  std::string bytes = ReadAll(newest);
  REQUIRE(bytes.size() > 100);
  bytes[bytes.size() / 2] ^= 0x5a;
  std::ofstream(newest, std::ios::binary | std::ios::trunc) << bytes;
  auto restarted = LocalCluster::Start(1, flags);
  REQUIRE(restarted.ok());
  ProcessResult second = run(*restarted, 8);
  const std::string server_log = ReadAll(restarted->log(0));
  INFO(second.output << server_log);
  REQUIRE(second.exit_code == 0);
  CHECK(second.output.find("resuming at step 5") != std::string::npos);
  CHECK(server_log.find("skipping checkpoint: " + newest +
                        " fails its checksum") != std::string::npos);
  CHECK(server_log.find("restored version 5 from") != std::string::npos);
}

}  // namespace
}  // namespace pserve
