// Unit tests of ps_launch's command-line parsing, per-process command lines
// and progress line. Single-threaded.
#include "tools/launch/launch.h"

#include <algorithm>
#include <string>
#include <vector>

#include "catch2/catch.hpp"

namespace pserve {
namespace {

using Args = std::vector<std::string>;

bool Has(const Args& argv, const std::string& a) {
  return std::find(argv.begin(), argv.end(), a) != argv.end();
}

absl::StatusOr<LaunchOptions> Parse(const Args& args) {
  return ParseLaunchArgs("/nonexistent/ps_launch", args);
}

TEST_CASE("launcher flags are read, the rest goes to servers and workers") {
  auto o = Parse({"--servers=2", "--workers=3", "--mode=ssp", "--staleness=1",
                  "--server_binary=/bin/true", "--lr=1e-3",
                  "--pid_file=/tmp/p.txt", "--", "/bin/true", "--steps=40",
                  "--export=m.bin", "--metrics_file=m%RANK%.jsonl"});
  REQUIRE(o.ok());
  CHECK(o->servers == 2);
  CHECK(o->workers == 3);
  CHECK(o->steps == 40);
  CHECK(o->pid_file == "/tmp/p.txt");
  CHECK(o->server_flags == Args{"--staleness=1", "--lr=1e-3"});
  const Args s1 = ServerArgv(*o, 1, "/tmp/p", 0);
  CHECK(s1[0] == "/bin/true");
  CHECK(Has(s1, "--server_id=1"));
  CHECK(Has(s1, "--num_servers=2"));
  CHECK(Has(s1, "--num_workers=3"));
  CHECK(Has(s1, "--mode=ssp"));
  CHECK(Has(s1, "--port=0"));
  CHECK(Has(s1, "--bind_address=127.0.0.1"));
  CHECK(Has(ServerArgv(*o, 1, "/tmp/p", 4321), "--port=4321"));
  const Args w0 = WorkerArgv(*o, 0, "a:1,b:2");
  const Args w2 = WorkerArgv(*o, 2, "a:1,b:2");
  CHECK(Has(w0, "--export=m.bin"));
  CHECK_FALSE(Has(w2, "--export=m.bin"));
  CHECK(Has(w2, "--metrics_file=m2.jsonl"));
  CHECK(Has(w2, "--rank=2"));
  CHECK(Has(w2, "--servers=a:1,b:2"));
  CHECK(Has(w2, "--mode=ssp"));
}

TEST_CASE("a rank-0 flag with a separate value is dropped with its value") {
  auto o = Parse({"--server_binary=/bin/true", "--", "/bin/true", "--export",
                  "m.bin", "--steps", "7"});
  REQUIRE(o.ok());
  CHECK(o->steps == 7);
  const Args w1 = WorkerArgv(*o, 1, "a:1");
  CHECK_FALSE(Has(w1, "m.bin"));
  CHECK(Has(w1, "7"));
}

TEST_CASE("flags the launcher fills in, bad values and no worker are refused") {
  for (const Args& bad :
       {Args{"--server_binary=/bin/true", "--port=7070", "--", "/bin/true"},
        Args{"--server_binary=/bin/true", "--", "/bin/true", "--rank=1"},
        Args{"--server_binary=/bin/true", "--", "/bin/true", "--servers=x:1"},
        Args{"--server_binary=/bin/true", "--workers=0", "--", "/bin/true"},
        Args{"--server_binary=/bin/true", "--mode=fast", "--", "/bin/true"},
        Args{"--server_binary=/bin/true", "--progress=loud", "--", "/bin/true"},
        Args{"--server_binary=/bin/true"},
        Args{"--server_binary=/bin/true", "--", "/no/such/ps_worker"},
        Args{"--server_binary=/no/such/ps_server", "--", "/bin/true"}}) {
    INFO(bad.size());
    CHECK_FALSE(Parse(bad).ok());
  }
  auto o = Parse({"--server_binary=/bin/true", "--", "/bin/true", "--rank=1"});
  CHECK(std::string(o.status().message()).find("--rank=1") !=
        std::string::npos);
}

TEST_CASE("progress follows the slowest worker and averages the losses") {
  ProgressTracker p(2, 100);
  CHECK(p.Line(3).find("starting") != std::string::npos);
  p.OnWorkerLine(0,
                 "12:00 [worker 0] [info] step 19 loss 3.0000 tokens/s 1000 "
                 "pull 0.020s compute 0.400s push 0.010s (per step)");
  p.OnWorkerLine(1,
                 "12:00 [worker 1] [info] step 9 loss 2.0000 tokens/s 500 "
                 "pull 0.040s compute 0.400s push 0.010s (per step)");
  p.OnWorkerLine(1, "12:00 [worker 1] [info] step 9 val_loss 1.0 (4 batches)");
  p.OnWorkerLine(5,
                 "12:00 [worker 5] [info] step 99 loss 9 tokens/s 1 pull 1s");
  CHECK(p.StepsDone() == 10);
  const std::string line = p.Line(60);
  INFO(line);
  CHECK(line.find("step  10/100") != std::string::npos);
  CHECK(line.find("loss 2.500") != std::string::npos);
  CHECK(line.find("1500 tok/s") != std::string::npos);
  CHECK(line.find("wait 30ms") != std::string::npos);
  CHECK(line.find("ETA 9m00s") != std::string::npos);
  CHECK(line.find("global") == std::string::npos);
}

TEST_CASE("progress shows the servers' global loss and MLP workers' rows/s") {
  ProgressTracker p(2, 50);
  p.OnWorkerLine(0,
                 "[worker 0] [info] step 4 loss 0.600000 global_loss 0.550000 "
                 "(step 3) rows/s 900");
  p.OnWorkerLine(1,
                 "[worker 1] [info] step 4 loss 0.400000 global_loss nan "
                 "(step -1) rows/s 1100");
  const std::string line = p.Line(10);
  INFO(line);
  CHECK(line.find("step  5/50") != std::string::npos);
  CHECK(line.find("loss 0.500") != std::string::npos);
  CHECK(line.find("global 0.550") != std::string::npos);
  CHECK(line.find("2000 rows/s") != std::string::npos);
  CHECK(line.find("wait") == std::string::npos);
  CHECK(line.find("ETA 1m30s") != std::string::npos);
  ProgressTracker g(1, 10);
  g.OnWorkerLine(0,
                 "[worker 0] [info] step 0 loss 4.0000 tokens/s 10 pull 0.5s "
                 "compute 1s push 0s (per step) global_loss 3.9000 (step 0)");
  CHECK(g.Line(1).find("global 3.900") != std::string::npos);
}

}  // namespace
}  // namespace pserve
