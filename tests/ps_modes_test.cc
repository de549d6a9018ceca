// Consistency modes against real ps_server processes on loopback: sync is
// exact, async applies every push once, ssp holds only workers that are
// too far ahead, retried pushes count once, and Init refuses another model.
// Worker threads never assert (Catch2 is not thread-safe): they hand their
// results to the main thread, which does.
#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/model_layout.h"
#include "common/optimizer.h"
#include "tests/ps_test_util.h"

namespace pserve {
namespace {

std::vector<float> InitialParams(const InitRequest& model,
                                 const ModelLayout& layout) {
  std::vector<float> p(layout.total_params());
  for (int t = 0; t < model.tensors_size(); ++t)
    FillInit(model.seed(), model.tensors(t).name(), 0, layout.tensor_numel(t),
             model.tensors(t).init(), p.data() + layout.tensor_offset(t));
  return p;
}

// One worker's sync loop, run on its own thread. No assertions here (Catch2
// is not thread-safe): the result or the first error goes back to the main
// thread.
absl::StatusOr<std::vector<float>> SyncWorker(const LocalCluster& cluster,
                                              int w, const InitRequest& model,
                                              int steps) {
  auto client = TryMakeClient(cluster, w, model);
  if (!client.ok()) return client.status();
  const int64_t n = (*client)->layout().total_params();
  std::vector<float> params(n);
  for (int t = 0; t < steps; ++t) {
    absl::StatusOr<int64_t> v = (*client)->Pull(params.data(), t, t);
    if (!v.ok()) return v.status();
    absl::Status s = (*client)->Push(KnownGrads(w, t, n).data(), {t, 1});
    if (!s.ok()) return s;
  }
  absl::StatusOr<int64_t> v = (*client)->Pull(params.data(), steps, steps);
  if (!v.ok()) return v.status();
  if (*v != steps)
    return absl::InternalError(
        absl::StrCat("final pull got version ", *v, ", want ", steps));
  return params;
}

void RunSyncExact(int W) {
  auto cluster = LocalCluster::Start(
      2, {"--num_workers=" + std::to_string(W), "--mode=sync",
          "--optimizer=adamw", "--lr=0.01", "--weight_decay=0.1"});
  REQUIRE(cluster.ok());
  InitRequest model = SmallModel(W, MODE_SYNC);
  const int steps = 4;
  std::vector<std::future<absl::StatusOr<std::vector<float>>>> workers;
  for (int w = 0; w < W; ++w)
    workers.push_back(std::async(std::launch::async, SyncWorker,
                                 std::cref(*cluster), w, std::cref(model),
                                 steps));
  std::vector<absl::StatusOr<std::vector<float>>> outcomes;
  for (auto& f : workers) outcomes.push_back(f.get());
  std::vector<std::vector<float>> results;
  for (auto& r : outcomes) {
    INFO(r.status().ToString());
    REQUIRE(r.ok());
    results.push_back(*std::move(r));
  }
  // One process applying the mean of the W gradients, step by step.
  auto layout = ModelLayout::Build(
      {model.tensors().begin(), model.tensors().end()}, model.chunk_bytes(), 2);
  std::vector<float> p = InitialParams(model, *layout);
  const int64_t n = p.size();
  std::vector<float> m(n, 0), v(n, 0), mean(n);
  OptimizerConfig opt;
  opt.lr = 0.01f;
  opt.weight_decay = 0.1f;
  for (int t = 0; t < steps; ++t) {
    for (int64_t i = 0; i < n; ++i) {
      float sum = 0;
      for (int w = 0; w < W; ++w) sum += KnownGrad(w, t, i);
      mean[i] = sum / W;
    }
    // The server applies per chunk; do the same so rounding matches.
    for (const ChunkInfo& c : layout->chunks())
      ApplyUpdate(opt, t, p.data() + c.flat_offset, mean.data() + c.flat_offset,
                  m.data() + c.flat_offset, v.data() + c.flat_offset, c.numel);
  }
  for (const auto& r : results)
    for (int64_t i = 0; i < n; ++i)
      REQUIRE(r[i] == Approx(p[i]).epsilon(1e-6).margin(1e-7));
}

TEST_CASE("sync with 2 workers equals one process applying the mean") {
  RunSyncExact(2);
}

TEST_CASE("sync with 4 workers equals one process applying the mean") {
  RunSyncExact(4);
}

TEST_CASE("async applies each of 4 concurrent workers' pushes exactly once") {
  const int W = 4, steps = 5;
  auto cluster = LocalCluster::Start(
      2, {"--num_workers=4", "--mode=async", "--optimizer=sgd", "--lr=1"});
  REQUIRE(cluster.ok());
  InitRequest model = SmallModel(W, MODE_ASYNC);
  // Each thread records its first error; the main thread asserts.
  std::vector<absl::Status> outcome(W);
  std::vector<std::thread> threads;
  for (int w = 0; w < W; ++w) {
    threads.emplace_back([&, w] {
      auto client = TryMakeClient(*cluster, w, model);
      if (!client.ok()) {
        outcome[w] = client.status();
        return;
      }
      const int64_t n = (*client)->layout().total_params();
      for (int t = 0; t < steps && outcome[w].ok(); ++t) {
        auto g = KnownGrads(w, t, n);
        outcome[w] = (*client)->Push(g.data(), {t, 1});
        if (outcome[w].ok())
          outcome[w] = (*client)->Push(g.data(), {t, 1});  // a retry: ignored
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const absl::Status& s : outcome) {
    INFO(s.ToString());
    REQUIRE(s.ok());
  }
  auto reader = MakeClient(*cluster, 0, model);
  const int64_t n = reader->layout().total_params();
  std::vector<float> got(n);
  REQUIRE(reader->Pull(got.data(), 0, 0).ok());
  std::vector<float> want = InitialParams(model, reader->layout());
  for (int64_t i = 0; i < n; ++i) {
    float sum = 0;
    for (int w = 0; w < W; ++w)
      for (int t = 0; t < steps; ++t) sum += KnownGrad(w, t, i);
    want[i] -= sum;
  }
  for (int64_t i = 0; i < n; ++i)
    REQUIRE(got[i] == Approx(want[i]).epsilon(1e-6).margin(1e-6));
  auto stats = reader->GetStats();
  REQUIRE(stats.ok());
  int64_t updates = 0, dups = 0;
  for (const auto& s : *stats)
    updates += s.updates_applied(), dups += s.duplicate_pushes();
  const int64_t chunks = reader->layout().chunks().size();
  REQUIRE(updates == W * steps * chunks);
  REQUIRE(dups > 0);
}

TEST_CASE("ssp holds a worker more than s clocks ahead, never one within s") {
  auto cluster = LocalCluster::Start(
      1, {"--num_workers=2", "--mode=ssp", "--staleness=1", "--optimizer=sgd"});
  REQUIRE(cluster.ok());
  InitRequest model = SmallModel(2, MODE_SSP);
  auto fast = MakeClient(*cluster, 0, model);
  auto slow = MakeClient(*cluster, 1, model);
  std::vector<float> a(fast->layout().total_params()), b(a.size());
  REQUIRE(slow->Pull(b.data(), 0, 0).ok());
  auto start = std::chrono::steady_clock::now();
  REQUIRE(fast->Pull(a.data(), 0, 0).ok());
  REQUIRE(fast->Pull(a.data(), 0, 1).ok());  // 1 ahead, s = 1: not held
  REQUIRE(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
  auto held = fast->PullAsync(a.data(), 0, 2);  // 2 ahead: held
  REQUIRE(!fast->WaitFor(held, absl::Milliseconds(700)));
  REQUIRE(slow->Pull(b.data(), 0, 1).ok());  // slowest reaches clock 1
  REQUIRE(fast->WaitFor(held, absl::Seconds(5)));
  REQUIRE(fast->Wait(held).ok());
}

TEST_CASE("a second Init with another model is refused; the same is accepted") {
  auto cluster = LocalCluster::Start(2, {"--num_workers=2"});
  REQUIRE(cluster.ok());
  InitRequest model = SmallModel(2, MODE_SYNC);
  auto first = MakeClient(*cluster, 0, model);
  auto same = MakeClient(*cluster, 1, model);  // REQUIREs Init ok
  auto other = ConnectClient(*cluster, 1);
  InitRequest changed = model;
  changed.mutable_tensors(1)->set_shape(0, 38);
  absl::Status s = other->Init(changed);
  REQUIRE(absl::IsFailedPrecondition(s));
  INFO(s.message());
  REQUIRE(s.message().find("'b'") != std::string::npos);
  REQUIRE(s.message().find("[38,13]") != std::string::npos);
}

TEST_CASE("a retried sync push is applied once") {
  auto cluster =
      LocalCluster::Start(1, {"--num_workers=1", "--optimizer=sgd", "--lr=1"});
  REQUIRE(cluster.ok());
  InitRequest model = SmallModel(1, MODE_SYNC);
  auto client = MakeClient(*cluster, 0, model);
  const int64_t n = client->layout().total_params();
  std::vector<float> before(n), after(n);
  REQUIRE(client->Pull(before.data(), 0, 0).ok());
  auto g = KnownGrads(0, 0, n);
  REQUIRE(client->Push(g.data(), {0, 1}).ok());
  REQUIRE(client->Push(g.data(), {0, 1}).ok());  // retry after the step applied
  REQUIRE(client->Pull(after.data(), 1, 1).value() == 1);
  for (int64_t i = 0; i < n; ++i) REQUIRE(after[i] == before[i] - g[i]);
  auto stats = client->GetStats();
  REQUIRE((*stats)[0].max_version() == 1);
}

}  // namespace
}  // namespace pserve

namespace pserve {
namespace {

TEST_CASE("Checkpoint then --restore_from resumes the same state") {
  const std::string dir = TestTempDir();
  InitRequest model = SmallModel(1, MODE_SYNC);
  std::vector<float> trained;
  {
    auto cluster =
        LocalCluster::Start(2, {"--num_workers=1", "--checkpoint_dir=" + dir});
    REQUIRE(cluster.ok());
    auto client = MakeClient(*cluster, 0, model);
    trained.resize(client->layout().total_params());
    for (int t = 0; t < 2; ++t) {
      REQUIRE(client->Pull(trained.data(), t, t).ok());
      REQUIRE(
          client->Push(KnownGrads(0, t, trained.size()).data(), {t, 1}).ok());
    }
    REQUIRE(client->Pull(trained.data(), 2, 2).ok());
    auto written = client->Checkpoint("");
    INFO(written.status().ToString());
    REQUIRE(written.ok());
    REQUIRE((*written)[1].bytes() > 0);
  }
  auto cluster = LocalCluster::Start(
      2, {"--num_workers=1", "--restore_from=" + dir + "/server-%ID%.ckpt"});
  REQUIRE(cluster.ok());
  auto client = MakeClient(*cluster, 0, model);
  std::vector<float> got(trained.size());
  REQUIRE(client->Pull(got.data(), 2, 2).value() == 2);
  REQUIRE(got == trained);
  // A server handed another server's file refuses it.
  auto wrong = LocalCluster::Start(
      2, {"--num_workers=1", "--restore_from=" + dir + "/server-0.ckpt"});
  REQUIRE(wrong.ok());
  auto other = ConnectClient(*wrong, 0);
  absl::Status s = other->Init(model);
  REQUIRE(absl::IsFailedPrecondition(s));
  REQUIRE(s.message().find("server 0") != std::string::npos);
}

}  // namespace
}  // namespace pserve

namespace pserve {
namespace {

TEST_CASE("a restarted worker resumes where the servers are") {
  SECTION("sync: at the servers' version") {
    auto cluster = LocalCluster::Start(2, {"--num_workers=1"});
    REQUIRE(cluster.ok());
    InitRequest model = SmallModel(1, MODE_SYNC);
    auto first = MakeClient(*cluster, 0, model);
    REQUIRE(first->resume_step() == 0);
    std::vector<float> p(first->layout().total_params());
    for (int t = 0; t < 2; ++t) {
      REQUIRE(first->Pull(p.data(), t, t).ok());
      REQUIRE(first->Push(KnownGrads(0, t, p.size()).data(), {t, 1}).ok());
    }
    auto again = MakeClient(*cluster, 0, model);  // same rank, new process
    REQUIRE(again->resume_step() == 2);
  }
  SECTION("async: one past this rank's last applied step") {
    auto cluster = LocalCluster::Start(2, {"--num_workers=2", "--mode=async"});
    REQUIRE(cluster.ok());
    InitRequest model = SmallModel(2, MODE_ASYNC);
    auto first = MakeClient(*cluster, 0, model);
    std::vector<float> g = KnownGrads(0, 0, first->layout().total_params());
    for (int t = 0; t < 3; ++t) REQUIRE(first->Push(g.data(), {t, 1}).ok());
    REQUIRE(MakeClient(*cluster, 0, model)->resume_step() == 3);
    REQUIRE(MakeClient(*cluster, 1, model)->resume_step() == 0);
  }
}

}  // namespace
}  // namespace pserve
