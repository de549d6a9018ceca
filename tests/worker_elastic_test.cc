// Dead workers in sync mode, with real processes and a real kill -9: with
// --elastic --worker_timeout=5 on 2 servers, a worker killed for good no
// longer holds up the other, the servers' logs name the dropped rank, and
// the rank started again rejoins and both finish.
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cluster/local_cluster.h"
#include "tests/worker_test_util.h"

namespace pserve {
namespace {

using Clock = std::chrono::steady_clock;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Polls until every file in `paths` contains `text` (true) or timeout_s
// passes (false), every 100 ms.
bool AwaitText(const std::vector<std::string>& paths, const std::string& text,
               int timeout_s) {
  const auto end = Clock::now() + std::chrono::seconds(timeout_s);
  while (Clock::now() < end) {
    bool all = true;
    for (const std::string& p : paths)
      all = all && Slurp(p).find(text) != std::string::npos;
    if (all) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

TEST_CASE(
    "--elastic: a worker killed for good is dropped; restarted, it rejoins") {
  const std::string dir = TestTempDir() + "/elastic";
  const std::string data = PrepareCorpus(dir);
  auto cluster = LocalCluster::Start(
      2, {"--num_workers=2", "--mode=sync", "--elastic", "--worker_timeout=5",
          "--optimizer=adamw", "--lr=1e-3"});
  REQUIRE(cluster.ok());
  auto argv = [&](int rank) {
    return WorkerArgv({"--servers=" + cluster->AddressList(),
                       "--rank=" + std::to_string(rank), "--num_workers=2",
                       "--mode=sync", "--data=" + data + "/train.bin",
                       "--model=tiny", "--batch_size=4", "--seq_len=32",
                       "--steps=600", "--seed=3", "--log_every=5"});
  };
  std::vector<std::string> argv0 = argv(0);
  argv0.push_back("--metrics_file=" + dir + "/metrics.jsonl");
  const Started w0 = StartProcess(argv0, dir + "/w0.log");
  const Started w1 = StartProcess(argv(1), dir + "/w1.log");
  const bool w1_trained = AwaitText({w1.log}, "step 9 loss", 120);
  ::kill(w1.pid, SIGKILL);
  const ProcessResult killed = WaitProcess(w1, 30);
  const auto kill_time = Clock::now();
  const bool dropped =
      AwaitText(cluster->logs(), "dropping rank 1 (--elastic)", 60);
  // Started again with the same flags while rank 0 still trains.
  const Started again = StartProcess(argv(1), dir + "/w1-again.log");
  const ProcessResult r0 = WaitProcess(w0, 120);
  const double finish_s =
      std::chrono::duration<double>(Clock::now() - kill_time).count();
  const ProcessResult r1 = WaitProcess(again, 120);
  const bool rejoined = AwaitText(cluster->logs(), "rank 1 is back", 1);
  std::string server_logs;
  for (const std::string& p : cluster->logs()) server_logs += Slurp(p);

  INFO("rank 0:\n"
       << r0.output << "\nrank 1 again:\n"
       << r1.output << "\nservers:\n"
       << server_logs);
  REQUIRE(w1_trained);
  REQUIRE(killed.exit_code == 128 + SIGKILL);
  REQUIRE(dropped);
  REQUIRE(r0.exit_code == 0);
  WARN("rank 0 finished " << finish_s << " s after the kill");
  REQUIRE(finish_s < 120);
  REQUIRE(Lines(r0.output).back().rfind("RESULT step=600 ", 0) == 0);
  REQUIRE(rejoined);
  REQUIRE(r1.exit_code == 0);
  REQUIRE(Lines(r1.output).back().rfind("RESULT step=600 ", 0) == 0);
  REQUIRE(server_logs.find("waiting") != std::string::npos);
  // The job's loss reached rank 0 with its pulls, before and after the drop.
  const std::vector<double> global =
      MetricsValues(dir + "/metrics.jsonl", "train", "global_loss");
  REQUIRE(global.size() == 120);  // 600 steps, a line every 5
  REQUIRE(std::isfinite(global.back()));
  REQUIRE(std::isfinite(ParseResult(r0.output).at("global_loss")));
  REQUIRE(server_logs.find("for rank 1 (last heard") != std::string::npos);
}

}  // namespace
}  // namespace pserve
