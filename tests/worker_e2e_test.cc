// ps_worker end to end on loopback: one server and one worker train the
// tiny model on a synthetic corpus until the validation loss falls; the
// exported model equals the parameters the servers hold (bit for bit, and
// so do the logits computed from either); ps_generate prints text, the
// same text every time when greedy.
#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cluster/local_cluster.h"
#include "kernels/ops.h"
#include "tests/worker_test_util.h"
#include "worker/client/ps_client.h"
#include "worker/data/data_loader.h"
#include "worker/model/export.h"
#include "worker/model/gpt.h"

namespace pserve {
namespace {

constexpr int kSteps = 300;
constexpr int64_t kChunkBytes = 64 << 10;  // several chunks per big tensor

// One training run shared by the tests below; its server stays up so the
// tests can pull what it holds.
struct TrainedRun {
  std::string data, dir, export_path, metrics;
  std::unique_ptr<LocalCluster> cluster;
  ProcessResult worker;
  std::map<std::string, double> result;
};

const TrainedRun& Trained() {
  static TrainedRun* run = [] {
    auto* r = new TrainedRun;
    r->dir = TestTempDir() + "/e2e";
    r->data = PrepareCorpus(r->dir);
    auto cluster = LocalCluster::Start(
        1, {"--num_workers=1", "--mode=sync", "--optimizer=adamw", "--lr=3e-3",
            "--chunk_bytes=" + std::to_string(kChunkBytes)});
    REQUIRE(cluster.ok());
    r->cluster = std::make_unique<LocalCluster>(std::move(*cluster));
    r->export_path = r->dir + "/model.bin";
    r->metrics = r->dir + "/metrics.jsonl";
    r->worker = RunConcurrently(
        {WorkerArgv(
            {"--servers=" + r->cluster->AddressList(),
             "--data=" + r->data + "/train.bin",
             "--val_data=" + r->data + "/val.bin",
             "--tokenizer=" + r->data + "/tokenizer.bin", "--model=tiny",
             "--batch_size=8", "--steps=" + std::to_string(kSteps),
             "--eval_every=100", "--eval_batches=8", "--log_every=50",
             "--chunk_bytes=" + std::to_string(kChunkBytes),
             "--export=" + r->export_path, "--metrics_file=" + r->metrics})},
        150)[0];
    r->result = ParseResult(r->worker.output);
    return r;
  }();
  return *run;
}

TEST_CASE("one server and one worker: the validation loss falls") {
  const TrainedRun& run = Trained();
  INFO(run.worker.output);
  REQUIRE(run.worker.exit_code == 0);
  REQUIRE(Lines(run.worker.output).back().rfind("RESULT step=300 ", 0) == 0);
  std::vector<double> val = MetricsValues(run.metrics, "val", "val_loss");
  REQUIRE(val.size() == 4);
  WARN("val loss "
       << val[0] << " " << val[1] << " " << val[2] << " " << val[3] << "; "
       << Lines(run.worker.output).back());  // steps 0, 100, 200 and the end
  // Measured: val loss 5.53 at step 0 (ln 256 = 5.55), 1.43 at step 100,
  // 0.46 at 200, 0.31 at the end; train loss 0.35 over the last 50 steps.
  CHECK(val.front() > 5.0);
  CHECK(val.back() < 1.5);
  CHECK(run.result.at("val_loss") == Approx(val.back()).margin(1e-5));
  CHECK(run.result.at("train_loss") < 2.0);
  CHECK(run.result.at("tokens_per_s") > 0);
  CHECK(MetricsValues(run.metrics, "train", "loss").size() == kSteps / 50);
}

std::vector<float> PullFromServers(const TrainedRun& run,
                                   const GptConfig& config) {
  ClientOptions options;
  options.servers = run.cluster->addresses();
  options.role = Caller::ADMIN;
  auto client = PsClient::Connect(options);
  REQUIRE(client.ok());
  InitRequest declaration;  // exactly what the worker declared
  for (const TensorSpec& spec : GptParameterSpecs(config))
    *declaration.add_tensors() = spec;
  declaration.set_seed(0);
  declaration.set_chunk_bytes(kChunkBytes);
  declaration.set_num_workers(1);
  declaration.set_mode(MODE_SYNC);
  absl::Status s = (*client)->Init(declaration);
  INFO(s.message());
  REQUIRE(s.ok());
  std::vector<float> params((*client)->layout().total_params());
  REQUIRE((*client)->Pull(params.data(), kSteps, 0).value() == kSteps);
  return params;
}

std::vector<float> LogitsOf(const GptConfig& config,
                            const std::vector<float>& params,
                            const std::string& val_shard) {
  std::unique_ptr<Backend> backend = MakeCpuBackend(1);
  auto model = Gpt::Create(config, backend.get());
  REQUIRE(model.ok());
  (*model)->SetParameters(params.data());
  const int B = 2, T = config.max_seq_len;
  auto loader =
      DataLoader::OpenSequential(val_shard, B, T, 0, 1, config.vocab_size);
  REQUIRE(loader.ok());
  std::vector<int32_t> in(B * T), tg(B * T);
  loader->NextBatch(in.data(), tg.data());
  REQUIRE((*model)->Forward(in.data(), tg.data(), B, T).ok());
  std::vector<float> logits(static_cast<size_t>(B) * T *
                            config.padded_vocab_size);
  (*model)->GetLogits(logits.data());
  return logits;
}

TEST_CASE("the exported model is bit-identical to the servers' parameters") {
  const TrainedRun& run = Trained();
  REQUIRE(run.worker.exit_code == 0);
  auto loaded = LoadCheckpoint(run.export_path);
  REQUIRE(loaded.ok());
  REQUIRE(loaded->config == *GptPreset("tiny"));
  std::vector<float> pulled = PullFromServers(run, loaded->config);
  REQUIRE(pulled.size() == loaded->params.size());
  CHECK(std::memcmp(pulled.data(), loaded->params.data(),
                    pulled.size() * sizeof(float)) == 0);
  const std::string val = run.data + "/val.bin";
  std::vector<float> a = LogitsOf(loaded->config, pulled, val);
  std::vector<float> b = LogitsOf(loaded->config, loaded->params, val);
  CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
  std::ifstream safetensors(SafetensorsPathFor(run.export_path));
  CHECK(safetensors.good());
}

TEST_CASE("ps_generate prints text; greedy decoding is deterministic") {
  const TrainedRun& run = Trained();
  REQUIRE(run.worker.exit_code == 0);
  auto generate = [&](const std::string& top_k, const std::string& seed) {
    return RunProcess(
        {RunfilePath("worker/ps_generate"), "--model=" + run.export_path,
         "--tokenizer=" + run.data + "/tokenizer.bin", "--prompt=the cat ",
         "--max_tokens=40", "--top_k=" + top_k, "--seed=" + seed,
         "--threads=1"},
        60);
  };
  ProcessResult greedy1 = generate("1", "1"), greedy2 = generate("1", "2");
  INFO(greedy1.output);
  REQUIRE(greedy1.exit_code == 0);
  CHECK(!greedy1.output.empty());
  CHECK(greedy1.output == greedy2.output);
  ProcessResult sampled = generate("40", "3");
  REQUIRE(sampled.exit_code == 0);
  CHECK(!sampled.output.empty());
  ProcessResult missing = RunProcess(
      {RunfilePath("worker/ps_generate"), "--model=" + run.dir + "/none.bin"},
      30);
  CHECK(missing.exit_code == 2);
  CHECK(Lines(missing.output).size() == 1);
}

}  // namespace
}  // namespace pserve

namespace pserve {
namespace {

TEST_CASE("a worker restarted with the same rank resumes the sync step") {
  const std::string dir = TestTempDir() + "/restart";
  const std::string data = PrepareCorpus(dir);
  auto cluster = LocalCluster::Start(1, {"--num_workers=1", "--mode=sync"});
  REQUIRE(cluster.ok());
  auto run = [&](int steps) {
    return RunConcurrently(
        {WorkerArgv({"--servers=" + cluster->AddressList(),
                     "--data=" + data + "/train.bin", "--model=tiny",
                     "--batch_size=2", "--steps=" + std::to_string(steps),
                     "--eval_every=0", "--log_every=1"})},
        120)[0];
  };
  ProcessResult first = run(5);
  INFO(first.output);
  REQUIRE(first.exit_code == 0);
  ProcessResult second = run(8);  // as a retried pod would
  INFO(second.output);
  REQUIRE(second.exit_code == 0);
  CHECK(second.output.find("resuming at step 5") != std::string::npos);
  CHECK(Lines(second.output).back().rfind("RESULT step=8 ", 0) == 0);
}

}  // namespace
}  // namespace pserve

namespace pserve {
namespace {

TEST_CASE(
    "servers restored from a worker-triggered checkpoint resume training") {
  const std::string dir = TestTempDir() + "/ckpt";
  const std::string data = PrepareCorpus(dir);
  auto run = [&](const LocalCluster& cluster, int steps) {
    return RunConcurrently(
        {WorkerArgv({"--servers=" + cluster.AddressList(),
                     "--data=" + data + "/train.bin", "--model=tiny",
                     "--batch_size=2", "--steps=" + std::to_string(steps),
                     "--eval_every=0", "--log_every=1",
                     "--checkpoint_every=3"})},
        120)[0];
  };
  {
    auto cluster =
        LocalCluster::Start(2, {"--num_workers=1", "--checkpoint_dir=" + dir});
    REQUIRE(cluster.ok());
    ProcessResult first = run(*cluster, 7);  // checkpoints at steps 3 and 6
    INFO(first.output);
    REQUIRE(first.exit_code == 0);
    CHECK(first.output.find("step 6: servers checkpointed") !=
          std::string::npos);
  }
  auto restored =
      LocalCluster::Start(2, {"--num_workers=1", "--checkpoint_dir=" + dir,
                              "--restore_from=" + dir + "/server-%ID%.ckpt"});
  REQUIRE(restored.ok());
  ProcessResult second = run(*restored, 9);
  INFO(second.output);
  REQUIRE(second.exit_code == 0);
  CHECK(second.output.find("resuming at step 6") != std::string::npos);
  CHECK(Lines(second.output).back().rfind("RESULT step=9 ", 0) == 0);
}

}  // namespace
}  // namespace pserve
