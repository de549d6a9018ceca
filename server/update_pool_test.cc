// UpdatePool covers every range exactly once from any number of callers,
// and a ShardStore applies the same bits with one update thread or many.
#include "server/update_pool.h"

#include <algorithm>
#include <cstring>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "catch2/catch.hpp"
#include "server/shard_store.h"

namespace pserve {
namespace {

using Ranges = std::vector<std::pair<int64_t, int64_t>>;

// The ranges one ParallelFor call handed out, sorted by begin.
Ranges Split(UpdatePool& pool, int64_t n, int64_t align, int64_t grain) {
  absl::Mutex mu;
  Ranges got;
  pool.ParallelFor(n, align, grain, [&](int64_t b, int64_t e) {
    absl::MutexLock lock(&mu);
    got.push_back({b, e});
  });
  std::sort(got.begin(), got.end());
  return got;
}

// True when `r` tiles [0, n) with boundaries on multiples of `align`.
bool Tiles(const Ranges& r, int64_t n, int64_t align) {
  if (n == 0) return r.empty();
  int64_t at = 0;
  for (const auto& [b, e] : r) {
    if (b != at || e <= b || b % align != 0) return false;
    at = e;
  }
  return at == n;
}

TEST_CASE("ParallelFor tiles [0, n) on aligned boundaries") {
  for (int threads : {1, 2, 3, 8}) {
    UpdatePool pool(threads);
    for (int64_t n : {0, 1, 15, 16, 17, 1000, 100003}) {
      const Ranges r = Split(pool, n, 16, 4096);
      INFO("threads " << threads << " n " << n);
      CHECK(Tiles(r, n, 16));
      const int64_t want =
          threads == 1
              ? 1
              : std::min<int64_t>((n + 15) / 16,
                                  std::max<int64_t>(threads, n / 4096));
      if (n > 0) CHECK(r.size() == static_cast<size_t>(want));
    }
    CHECK(Split(pool, 1000, 1, 10).size() ==
          (threads == 1 ? 1u : 100u));  // ranges of about `grain`
  }
}

TEST_CASE("ParallelFor serves concurrent callers") {
  UpdatePool pool(3);
  constexpr int kCallers = 4, kCalls = 200;
  std::vector<int> good(kCallers, 0);
  std::vector<std::thread> callers;
  for (int c = 0; c < kCallers; ++c) {
    callers.emplace_back([&, c] {
      for (int i = 0; i < kCalls; ++i) {
        const int64_t n = 1000 + 37 * i + c;
        if (Tiles(Split(pool, n, 16, 1), n, 16)) ++good[c];
      }
    });
  }
  for (std::thread& t : callers) t.join();
  for (int c = 0; c < kCallers; ++c) CHECK(good[c] == kCalls);
}

InitRequest Declaration() {
  InitRequest req;
  req.mutable_caller()->set_role(Caller::WORKER);
  req.mutable_caller()->set_rank(0);
  for (const auto& [name, size] :
       std::vector<std::pair<std::string, int>>{{"w", 600001}, {"b", 100003}}) {
    TensorSpec* t = req.add_tensors();
    t->set_name(name);
    t->add_shape(size);
    t->mutable_init()->set_kind(InitRule::NORMAL);
    t->mutable_init()->set_std(0.02f);
  }
  req.set_seed(3);
  req.set_chunk_bytes(1 << 20);
  req.set_num_servers(1);
  req.set_num_workers(1);
  req.set_mode(MODE_ASYNC);
  return req;
}

// Every chunk's parameters after `steps` AdamW pushes of seeded gradients.
std::vector<std::vector<float>> Train(int update_threads, int steps) {
  ServerConfig config;
  config.mode = MODE_ASYNC;
  config.optimizer.kind = OptimizerKind::kAdamW;
  config.optimizer.weight_decay = 0.1f;
  config.update_threads = update_threads;
  ShardStore store(config);
  std::vector<std::vector<float>> out;
  if (!store.Init(Declaration()).ok()) return out;
  std::mt19937 gen(11);
  std::normal_distribution<float> normal(0.0f, 1e-2f);
  std::vector<float> grad;
  for (int step = 0; step < steps; ++step) {
    for (int i = 0; i < store.num_chunks(); ++i) {
      grad.resize(store.chunk_info(i).numel);
      for (float& g : grad) g = normal(gen);
      if (!store.Push(i, 0, step, grad.data(), 1).ok()) return {};
    }
  }
  for (int i = 0; i < store.num_chunks(); ++i) {
    out.emplace_back(store.chunk_info(i).numel);
    store.Read(i, out.back().data());
  }
  return out;
}

TEST_CASE("A chunk's update gives the same bits on 1 thread or 4") {
  const std::vector<std::vector<float>> one = Train(1, 3), four = Train(4, 3);
  REQUIRE(one.size() == 4);  // 3 chunks of w, 1 of b
  REQUIRE(four.size() == one.size());
  for (size_t i = 0; i < one.size(); ++i) {
    REQUIRE(four[i].size() == one[i].size());
    CHECK(std::memcmp(one[i].data(), four[i].data(),
                      one[i].size() * sizeof(float)) == 0);
  }
}

}  // namespace
}  // namespace pserve
