// ps_worker data parallelism on loopback. Sync is exact: 2 workers with
// batch B end with the parameters of 1 worker with batch 2B (SGD on 2
// servers, no clipping), and the overlapped pull gives the plain pull's
// parameters bit for bit. Async with 2 workers trains too.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "cluster/local_cluster.h"
#include "tests/worker_test_util.h"
#include "worker/model/export.h"

namespace pserve {
namespace {

const std::string& Data() {
  static const std::string* data =
      new std::string(PrepareCorpus(TestTempDir() + "/parallel"));
  return *data;
}

// Runs `workers` sync workers with batch `batch` each for 5 steps against a
// fresh 2-server SGD cluster; returns the exported parameters.
LoadedCheckpoint TrainSync(int workers, int batch, const std::string& name,
                           const std::string& extra_flag = "--log_every=5") {
  const std::string chunk = "--chunk_bytes=16384";
  auto cluster = LocalCluster::Start(
      2, {"--num_workers=" + std::to_string(workers), "--mode=sync",
          "--optimizer=sgd", "--lr=0.5", chunk});
  REQUIRE(cluster.ok());
  const std::string path = TestTempDir() + "/" + name + ".bin";
  std::vector<std::vector<std::string>> argvs;
  for (int w = 0; w < workers; ++w)
    argvs.push_back(WorkerArgv(
        {"--servers=" + cluster->AddressList(), "--rank=" + std::to_string(w),
         "--num_workers=" + std::to_string(workers), "--mode=sync",
         "--data=" + Data() + "/train.bin", "--model=tiny",
         "--batch_size=" + std::to_string(batch), "--seq_len=32", "--steps=5",
         "--seed=7", "--grad_clip=0", chunk, "--export=" + path, extra_flag}));
  std::vector<double> global_losses;  // each worker's RESULT global_loss=
  for (const ProcessResult& r : RunConcurrently(argvs, 120)) {
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    global_losses.push_back(ParseResult(r.output).at("global_loss"));
  }
  // The servers' loss of the last step, the same for every worker.
  for (double g : global_losses) {
    REQUIRE(std::isfinite(g));
    REQUIRE(g == global_losses[0]);
  }
  auto loaded = LoadCheckpoint(path);
  REQUIRE(loaded.ok());
  return std::move(*loaded);
}

// Largest |a - b| / max|b| over the tensors; each tensor must be within
// 1e-5 of its largest magnitude.
double CompareParams(const LoadedCheckpoint& two, const LoadedCheckpoint& one) {
  REQUIRE(two.config == one.config);
  const auto sizes = GptTensorSizes(one.config);
  const auto offsets = GptTensorOffsets(one.config);
  double worst = 0;  // largest difference relative to the tensor's max
  for (int t = 0; t < kNumGptTensors; ++t) {
    float max_abs = 0, max_diff = 0;
    for (size_t i = offsets[t]; i < offsets[t] + sizes[t]; ++i) {
      max_abs = std::max(max_abs, std::fabs(one.params[i]));
      max_diff = std::max(max_diff, std::fabs(one.params[i] - two.params[i]));
    }
    INFO("tensor " << GptTensorName(t) << " max |w| " << max_abs << " max diff "
                   << max_diff);
    CHECK(max_diff <= 1e-5f * max_abs);
    if (max_abs > 0) worst = std::max(worst, double(max_diff) / max_abs);
  }
  return worst;
}

TEST_CASE("sync: 2 workers with batch B equal 1 worker with batch 2B") {
  LoadedCheckpoint two = TrainSync(2, 4, "two");
  LoadedCheckpoint one = TrainSync(1, 8, "one");
  // Measured: largest relative difference 1.7e-6.
  WARN("largest relative difference: " << CompareParams(two, one));
}

TEST_CASE("--grad_accum_steps=2 with batch B equals batch 2B") {
  // With one worker, two micro-batches of B rows are the 2B rows of one
  // global batch of the B=2B run (see DataLoader's row order).
  LoadedCheckpoint accum = TrainSync(1, 4, "accum", "--grad_accum_steps=2");
  LoadedCheckpoint one = TrainSync(1, 8, "one-again");
  WARN("largest relative difference: " << CompareParams(accum, one));
}

// The overlapped pull changes when parameters arrive, never which version a
// layer reads, so the runs agree bit for bit. (With 2 workers the servers'
// sum of two pushes is the same in either arrival order.)
TEST_CASE("sync: the overlapped pull gives the plain pull's parameters") {
  for (int workers : {1, 2}) {
    const std::string w = std::to_string(workers);
    LoadedCheckpoint plain =
        TrainSync(workers, 4, "plain" + w, "--overlap_pull=false");
    LoadedCheckpoint overlapped =
        TrainSync(workers, 4, "overlapped" + w, "--overlap_pull=true");
    REQUIRE(plain.config == overlapped.config);
    REQUIRE(plain.params.size() == overlapped.params.size());
    size_t differ = 0;
    for (size_t i = 0; i < plain.params.size(); ++i)
      differ += std::memcmp(&plain.params[i], &overlapped.params[i],
                            sizeof(float)) != 0;
    INFO(workers << " workers: " << differ << " parameters differ");
    CHECK(differ == 0);
  }
}

TEST_CASE("async: 2 workers train and their loss falls") {
  auto cluster = LocalCluster::Start(
      1, {"--num_workers=2", "--mode=async", "--optimizer=adamw", "--lr=3e-3"});
  REQUIRE(cluster.ok());
  const std::string metrics = TestTempDir() + "/async.jsonl";
  std::vector<std::vector<std::string>> argvs;
  for (int w = 0; w < 2; ++w)
    argvs.push_back(WorkerArgv(
        {"--servers=" + cluster->AddressList(), "--rank=" + std::to_string(w),
         "--num_workers=2", "--mode=async", "--data=" + Data() + "/train.bin",
         "--val_data=" + Data() + "/val.bin", "--model=tiny", "--batch_size=8",
         "--steps=150", "--eval_every=150", "--eval_batches=4",
         "--log_every=25", "--metrics_file=" + metrics + std::to_string(w)}));
  std::vector<ProcessResult> results = RunConcurrently(argvs, 150);
  for (const ProcessResult& r : results) WARN(Lines(r.output).back());
  // Measured: rank 0's val loss 5.54 at step 0 (ln 256 = 5.55, untrained);
  // after 150 steps per worker (300 updates in all) 0.6-1.9 on both ranks.
  // In async mode rank 1 may already have pushed a few updates when rank 0
  // evaluates step 0 (4.06 was seen), so the start is only bounded below.
  std::vector<double> first = MetricsValues(metrics + "0", "val", "val_loss");
  REQUIRE(!first.empty());
  CHECK(first.front() > 3.5);
  for (const ProcessResult& r : results) {
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    auto result = ParseResult(r.output);
    REQUIRE(result.at("step") == 150);
    CHECK(result.at("val_loss") < 3.0);
    CHECK(result.at("val_loss") < first.front() - 1.0);
    CHECK(result.at("train_loss") < 3.5);
  }
}

}  // namespace
}  // namespace pserve
