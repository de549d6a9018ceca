// ps_worker refuses bad input with a non-zero exit and one line naming the
// problem (missing data, unknown model, --num_workers=0, an unreachable
// server), and stops cleanly after the current step on SIGTERM.
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cluster/local_cluster.h"
#include "tests/worker_test_util.h"
#include "worker/data/token_shard.h"

namespace pserve {
namespace {

// A small valid byte-level shard.
std::string Shard() {
  static const std::string* path = [] {
    auto* p = new std::string(TestTempDir() + "/flags-train.bin");
    std::vector<int32_t> tokens(20000);
    for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = 32 + i * 7 % 90;
    REQUIRE(WriteTokenShard(*p, tokens).ok());
    return p;
  }();
  return *path;
}

// Runs ps_worker and returns its output lines that start with "ps_worker:".
ProcessResult RunWorker(const std::vector<std::string>& flags) {
  return RunProcess(WorkerArgv(flags), 60);
}

std::string ErrorLine(const ProcessResult& r) {
  std::string found;
  int count = 0;
  for (const std::string& line : Lines(r.output))
    if (line.rfind("ps_worker:", 0) == 0) found = line, ++count;
  CHECK(count == 1);
  return found;
}

TEST_CASE("a missing --data file is refused with one line") {
  ProcessResult r =
      RunWorker({"--servers=127.0.0.1:1", "--data=/nonexistent/train.bin"});
  INFO(r.output);
  CHECK(r.exit_code == 2);
  CHECK(Lines(r.output).size() == 1);
  CHECK(ErrorLine(r) ==
        "ps_worker: --data=/nonexistent/train.bin: no such file; run "
        "ps_prepare first");
}

TEST_CASE("an unknown --model is refused with one line") {
  ProcessResult r =
      RunWorker({"--servers=127.0.0.1:1", "--data=" + Shard(), "--model=gpt5"});
  INFO(r.output);
  CHECK(r.exit_code == 2);
  CHECK(Lines(r.output).size() == 1);
  CHECK(ErrorLine(r).find("--model") != std::string::npos);
  CHECK(ErrorLine(r).find("gpt5") != std::string::npos);
}

TEST_CASE("--num_workers=0 is refused with one line") {
  ProcessResult r = RunWorker(
      {"--servers=127.0.0.1:1", "--data=" + Shard(), "--num_workers=0"});
  INFO(r.output);
  CHECK(r.exit_code == 2);
  CHECK(Lines(r.output).size() == 1);
  CHECK(ErrorLine(r).find("--num_workers") != std::string::npos);
}

TEST_CASE("an unreachable server fails after --connect_timeout") {
  const auto start = std::chrono::steady_clock::now();
  ProcessResult r = RunWorker({"--servers=127.0.0.1:1", "--data=" + Shard(),
                               "--connect_timeout=1", "--log_level=error"});
  INFO(r.output);
  CHECK(r.exit_code != 0);
  CHECK(ErrorLine(r).find("127.0.0.1:1") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(30));
}

TEST_CASE("SIGTERM stops training after the current step") {
  auto cluster = LocalCluster::Start(1, {"--num_workers=1", "--optimizer=sgd"});
  REQUIRE(cluster.ok());
  const std::string metrics = TestTempDir() + "/sigterm.jsonl";
  Started p = StartProcess(
      WorkerArgv({"--servers=" + cluster->AddressList(), "--data=" + Shard(),
                  "--model=tiny", "--seq_len=32", "--steps=1000000",
                  "--log_every=1", "--metrics_file=" + metrics}),
      TestTempDir() + "/sigterm.log");
  REQUIRE(p.pid > 0);
  for (int i = 0; i < 300 && MetricsValues(metrics, "train", "loss").size() < 3;
       ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  kill(p.pid, SIGTERM);
  ProcessResult r = WaitProcess(p, 60);
  INFO(r.output);
  CHECK(r.exit_code == 128 + SIGTERM);
  CHECK(Lines(r.output).back().rfind("RESULT step=", 0) == 0);
}

}  // namespace
}  // namespace pserve
