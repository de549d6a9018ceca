// Scrapes /metrics of a live ps_server and a live ps_worker while the worker
// trains, and checks that the values move between two scrapes.
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "cluster/local_cluster.h"
#include "tests/worker_test_util.h"

namespace pserve {
namespace {

std::string Scrape(int port) {
  return RunProcess({"/usr/bin/curl", "-s", "--max-time", "5",
                     "http://127.0.0.1:" + std::to_string(port) + "/metrics"},
                    10)
      .output;
}

// The value of the first sample of `name` (with or without labels), or -1.
double Value(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) != 0) continue;
    const char next = line.size() > name.size() ? line[name.size()] : '\0';
    if (next == '{' || next == ' ')
      return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return -1;
}

// Polls a log file for "metrics on :PORT/metrics" for at most 30 s.
int MetricsPortFromLog(const std::string& log) {
  const std::regex re("metrics on :([0-9]+)/metrics");
  for (int i = 0; i < 300; ++i) {
    std::ifstream in(log);
    std::stringstream ss;
    ss << in.rdbuf();
    std::smatch m;
    const std::string text = ss.str();
    if (std::regex_search(text, m, re)) return std::stoi(m[1]);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return -1;
}

TEST_CASE("server and worker /metrics move while training") {
  const std::string dir = TestTempDir() + "/metrics";
  const std::string data = PrepareCorpus(dir);
  auto cluster =
      LocalCluster::Start(1, {"--num_workers=1", "--metrics_port=0"});
  REQUIRE(cluster.ok());
  const std::string log = dir + "/worker.log";
  Started worker = StartProcess(
      WorkerArgv({"--servers=" + cluster->AddressList(),
                  "--data=" + data + "/train.bin", "--model=tiny",
                  "--batch_size=4", "--steps=1000000", "--eval_every=0",
                  "--log_every=20", "--metrics_port=0"}),
      log);
  const int worker_port = MetricsPortFromLog(log);
  REQUIRE(worker_port > 0);
  ProcessResult server_port = RunProcess(
      {"/bin/sh", "-c", "cat " + TestTempDir() + "/*-s0.port.metrics"});
  const int server_port_num = std::stoi(server_port.output);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const std::string w1 = Scrape(worker_port), s1 = Scrape(server_port_num);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const std::string w2 = Scrape(worker_port), s2 = Scrape(server_port_num);
  kill(worker.pid, SIGTERM);  // stops after the current step
  ProcessResult done = WaitProcess(worker, 60);
  INFO(w1 << "\n----\n" << w2 << "\n----\n" << s2 << "\n----\n" << done.output);
  REQUIRE(done.exit_code == 143);
  REQUIRE(done.output.find("RESULT step=") != std::string::npos);
  // Worker: step, tokens and loss are reported and move.
  std::smatch m;
  const std::regex step_re("\n(pserve_[a-z_]*step[a-z_]*)[{ ]");
  REQUIRE(std::regex_search(w1, m, step_re));
  const std::string step_name = m[1];
  CHECK(Value(w2, step_name) > Value(w1, step_name));
  CHECK(w2.find("loss") != std::string::npos);
  // Server: pushes and versions grow.
  CHECK(Value(s2, "pserve_pushes_total") > Value(s1, "pserve_pushes_total"));
  CHECK(Value(s2, "pserve_max_version") > Value(s1, "pserve_max_version"));
  CHECK(Value(s2, "pserve_push_bytes_total") > 0);
}

}  // namespace
}  // namespace pserve
