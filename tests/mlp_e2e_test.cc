// --model=mlp end to end on loopback with real ps_server and ps_worker
// processes: sync data parallelism is exact (W workers x B rows equal one
// worker x W*B rows; full-batch on W workers equals full-batch on one, with
// even and uneven shards), the
// textbook's wine classifier and the diabetes and breast-cancer models
// reach their targets on held-out rows, and PyTorch reproduces the
// exported model's validation predictions from the file alone (skipped,
// saying so, without /usr/bin/python3 torch).
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cluster/local_cluster.h"
#include "tests/mlp_test_util.h"
#include "tests/worker_test_util.h"

namespace pserve {
namespace {

const std::vector<std::string> kMomentum = {"--optimizer=momentum",
                                            "--momentum=0.9"};

std::vector<std::string> With(std::vector<std::string> a,
                              const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

double MaxDifference(const std::string& a, const std::string& b) {
  const std::vector<float> x = SafetensorsFloats(a), y = SafetensorsFloats(b);
  REQUIRE(x.size() == y.size());
  REQUIRE(!x.empty());
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i)
    worst = std::max(worst, std::fabs(static_cast<double>(x[i]) - y[i]));
  return worst;
}

TEST_CASE("sync: 4 workers x 8 rows equal 1 worker x 32 rows") {
  const std::string data = PrepareCsv("wine.csv", TestTempDir() + "/wine_x");
  // Two servers and 64-byte chunks: tensors are split across servers.
  const auto servers = With(kMomentum, {"--lr=0.05", "--chunk_bytes=64"});
  const std::vector<std::string> common = {"--steps=30", "--chunk_bytes=64",
                                           "--seed=3"};
  MlpJob four =
      RunMlpJob("four", data, 2, 4, servers, With(common, {"--batch_size=8"}));
  MlpJob one =
      RunMlpJob("one", data, 2, 1, servers, With(common, {"--batch_size=32"}));
  const double diff = MaxDifference(four.export_path, one.export_path);
  WARN("max |4x8 - 1x32| parameter difference after 30 steps: " << diff);
  CHECK(diff <= 1e-5);
  CHECK(four.result.at("val_loss") ==
        Approx(one.result.at("val_loss")).margin(1e-5));
}

TEST_CASE("sync full batch: 4 workers equal 1 worker (even shards)") {
  // iris: 150 rows, 30 for validation, 120 = 4 x 30 for training.
  const std::string data = PrepareCsv("iris.csv", TestTempDir() + "/iris_fb");
  const auto servers = With(kMomentum, {"--lr=0.1"});
  const std::vector<std::string> common = {"--steps=40", "--batch_size=0",
                                           "--hidden=8", "--activation=tanh"};
  MlpJob four = RunMlpJob("fb_four", data, 1, 4, servers, common);
  MlpJob one = RunMlpJob("fb_one", data, 1, 1, servers, common);
  const double diff = MaxDifference(four.export_path, one.export_path);
  WARN("max |full batch 4 - 1| parameter difference after 40 steps: " << diff);
  CHECK(diff <= 1e-5);
  CHECK(one.result.at("val_accuracy") >= 0.9);
}

TEST_CASE("sync full batch: 4 uneven shards equal 1 worker") {
  // wine: 143 training rows, shards of 35, 36, 36 and 36; the servers weight
  // each push by its example count, so the mean is over rows, not workers.
  const std::string data = PrepareCsv("wine.csv", TestTempDir() + "/wine_fb");
  const auto servers = With(kMomentum, {"--lr=0.1"});
  const std::vector<std::string> common = {"--steps=40", "--batch_size=0"};
  MlpJob four = RunMlpJob("fbu_four", data, 2, 4, servers, common);
  MlpJob one = RunMlpJob("fbu_one", data, 2, 1, servers, common);
  const double diff = MaxDifference(four.export_path, one.export_path);
  WARN("max |uneven full batch 4 - 1| difference after 40 steps: " << diff);
  CHECK(diff <= 1e-5);
  CHECK(four.result.at("global_loss") ==
        Approx(one.result.at("global_loss")).margin(1e-5));
}

TEST_CASE("the textbook example: wine, 13-10-5-3 ReLU, 4 workers") {
  const std::string data = PrepareCsv("wine.csv", TestTempDir() + "/wine");
  MlpJob job =
      RunMlpJob("wine", data, 1, 4, With(kMomentum, {"--lr=0.05"}),
                {"--hidden=10,5", "--activation=relu", "--loss=cross_entropy",
                 "--batch_size=8", "--steps=150"});
  WARN(Lines(job.workers[0].output).back());
  CHECK(job.result.at("val_accuracy") >= 0.90);
}

TEST_CASE("diabetes with MSE reaches R^2 >= 0.35") {
  const std::string data = PrepareCsv("diabetes.csv", TestTempDir() + "/diab");
  MlpJob job = RunMlpJob(
      "diabetes", data, 1, 4, With(kMomentum, {"--lr=0.01"}),
      {"--hidden=10", "--loss=mse", "--batch_size=16", "--steps=300"});
  WARN(Lines(job.workers[0].output).back());
  CHECK(job.result.at("val_r2") >= 0.35);
}

TEST_CASE("breast cancer with hinge loss reaches accuracy >= 0.90") {
  const std::string data =
      PrepareCsv("breast_cancer.csv", TestTempDir() + "/cancer");
  MlpJob job = RunMlpJob(
      "cancer", data, 1, 4, With(kMomentum, {"--lr=0.02"}),
      {"--hidden=10,5", "--loss=hinge", "--batch_size=8", "--steps=150"});
  WARN(Lines(job.workers[0].output).back());
  CHECK(job.result.at("val_accuracy") >= 0.90);
}

bool HaveTorch() {
  return std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0;
}

double Field(const std::string& out, const std::string& key) {
  const size_t at = out.rfind(key + " ");
  REQUIRE(at != std::string::npos);
  return std::strtod(out.c_str() + at + key.size() + 1, nullptr);
}

TEST_CASE("PyTorch reproduces the exported model's predictions") {
  if (!HaveTorch()) {
    std::printf("SKIPPED: /usr/bin/python3 cannot import torch\n");
    return;
  }
  struct Case {
    std::string csv, loss, act, metric;
  };
  for (const Case& c :
       {Case{"wine.csv", "cross_entropy", "relu", "val_accuracy"},
        Case{"breast_cancer.csv", "hinge", "tanh", "val_accuracy"},
        Case{"diabetes.csv", "mse", "sigmoid", "val_r2"}}) {
    CAPTURE(c.csv);
    const std::string data =
        PrepareCsv(c.csv, TestTempDir() + "/torch_" + c.loss, {"--seed=5"});
    MlpJob job =
        RunMlpJob("torch_" + c.loss, data, 1, 2, With(kMomentum, {"--lr=0.02"}),
                  {"--loss=" + c.loss, "--activation=" + c.act,
                   "--batch_size=8", "--steps=40"});
    ProcessResult py = RunProcess(
        {"/usr/bin/python3", RunfilePath("tests/reference/mlp_predict.py"),
         job.export_path, TestCsv(c.csv), "--target=target", "--seed=5",
         "--activation=" + c.act, "--loss=" + c.loss},
        120);
    INFO(py.output);
    REQUIRE(py.exit_code == 0);
    WARN(c.csv << ": torch " << py.output << " worker "
               << Lines(job.workers[0].output).back());
    CHECK(Field(py.output, "val_loss") ==
          Approx(job.result.at("val_loss")).margin(1e-4));
    CHECK(Field(py.output, c.metric) ==
          Approx(job.result.at(c.metric)).margin(1e-4));
  }
}

}  // namespace
}  // namespace pserve
