// --model=mlp flags end to end: every --init rule and every --activation
// is accepted and lowers the validation loss of a short sync run on wine;
// combinations that make no sense (a loss that does not fit the data's
// task, unknown names, GPT-only flags) exit 2 with one line naming the flag.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "cluster/local_cluster.h"
#include "tests/mlp_test_util.h"
#include "tests/worker_test_util.h"

namespace pserve {
namespace {

TEST_CASE("every --init and --activation trains") {
  const std::string data = PrepareCsv("wine.csv", TestTempDir() + "/wine");
  struct Combo {
    std::string init, act;
  };
  std::vector<Combo> combos;
  for (const char* init : {"normal", "uniform", "zeros", "xavier", "kaiming"})
    combos.push_back({init, "relu"});
  combos.push_back({"xavier", "sigmoid"});
  combos.push_back({"xavier", "tanh"});
  for (const Combo& c : combos) {
    CAPTURE(c.init, c.act);
    const std::string metrics =
        TestTempDir() + "/" + c.init + "_" + c.act + ".jsonl";
    MlpJob job = RunMlpJob(
        c.init + "_" + c.act, data, 1, 2,
        {"--optimizer=momentum", "--momentum=0.9", "--lr=0.05"},
        {"--init=" + c.init, "--activation=" + c.act, "--batch_size=8",
         "--steps=40", "--eval_every=40", "--metrics_file=" + metrics});
    const std::vector<double> val = MetricsValues(metrics, "val", "val_loss");
    REQUIRE(val.size() >= 2);  // step 0 and the end
    WARN(c.init << "/" << c.act << ": val loss " << val.front() << " -> "
                << val.back() << ", accuracy "
                << job.result.at("val_accuracy"));
    CHECK(val.back() < val.front());
  }
}

TEST_CASE("bad MLP combinations exit 2 with one line") {
  const std::string wine = PrepareCsv("wine.csv", TestTempDir() + "/bad_wine");
  const std::string diab =
      PrepareCsv("diabetes.csv", TestTempDir() + "/bad_diab");
  struct Bad {
    std::string data;
    std::vector<std::string> flags;
    std::string expect;
  };
  const std::vector<Bad> cases = {
      {wine, {"--loss=mse"}, "--loss=mse needs a regression file"},
      {diab, {"--loss=hinge"}, "--loss=hinge needs a classification file"},
      {diab, {}, "--loss=cross_entropy needs a classification file"},
      {wine, {"--activation=gelu"}, "--activation=gelu: use relu"},
      {wine, {"--init=he"}, "--init=he: use normal"},
      {wine, {"--hidden=10,x"}, "--hidden=10,x"},
      {wine, {"--batch_size=-1"}, "--batch_size"},
      {wine, {"--seq_len=8"}, "--seq_len: applies to GPT models"},
      {wine, {"--init=normal", "--init_scale=0"}, "--init_scale"},
      {wine + "/nothing", {}, "no such file"},
  };
  for (const Bad& b : cases) {
    std::vector<std::string> flags = {"--servers=127.0.0.1:1", "--model=mlp",
                                      "--data=" + b.data + "/train.tab",
                                      "--connect_timeout=1",
                                      "--log_level=error"};
    flags.insert(flags.end(), b.flags.begin(), b.flags.end());
    ProcessResult r = RunProcess(WorkerArgv(flags), 30);
    INFO(r.output);
    CHECK(r.exit_code == 2);
    REQUIRE(Lines(r.output).size() == 1);
    CHECK(r.output.rfind("ps_worker: ", 0) == 0);
    CHECK(r.output.find(b.expect) != std::string::npos);
  }
}

}  // namespace
}  // namespace pserve
