// ps_bench --suite=update: AdamW over GPT-2 124M applied by the server's own
// update path (ShardStore::Push of every chunk, async mode, its UpdatePool
// spreading each chunk over the threads) against memcpy bandwidth on the
// same threads, same run. Single-threaded driver; the pools own the threads.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/flags/flag.h"
#include "server/shard_store.h"
#include "server/update_pool.h"
#include "tools/bench_common.h"
#include "tools/ps_bench_suites.h"

ABSL_FLAG(int, update_threads, 0,
          "--suite=update: threads for the all-core update and copy "
          "(0: every core)");

namespace pserve {
namespace {

constexpr int kReps = 5;
// Bytes an Adam/AdamW update moves per parameter: p, g, m, v read; p, m, v
// written.
constexpr double kAdamBytes = 28;

// memcpy GB/s (bytes read plus written) of n floats split over the pool's
// threads into contiguous slices, best of kReps on warm buffers.
double CopyGbps(UpdatePool& pool, size_t n) {
  std::vector<float> a(n, 1.0f), b(n, 2.0f);
  double best = 1e30;
  for (int r = 0; r <= kReps; ++r) {  // r = 0 warms the pool's threads
    const auto start = std::chrono::steady_clock::now();
    pool.ParallelFor(static_cast<int64_t>(n), 16, 1 << 15,
                     [&](int64_t begin, int64_t end) {
                       std::memcpy(b.data() + begin, a.data() + begin,
                                   (end - begin) * sizeof(float));
                     });
    if (r > 0) best = std::min(best, Seconds(start));
  }
  return 2.0 * n * sizeof(float) / best / 1e9;
}

InitRequest UpdateModel() {
  InitRequest r;
  for (const TensorSpec& t : Gpt2SmallTensors()) *r.add_tensors() = t;
  r.mutable_caller()->set_role(Caller::WORKER);
  r.set_seed(1);
  r.set_chunk_bytes(4 << 20);
  r.set_num_servers(1);
  r.set_num_workers(1);
  r.set_mode(MODE_ASYNC);
  return r;
}

// AdamW GB/s (28 bytes per parameter) of one ShardStore holding all of
// GPT-2 124M, each round pushing a gradient to every chunk in turn; best of
// kReps rounds after a warm one. 0 on error. Sets *params.
double StoreAdamwGbps(int update_threads, int64_t* params) {
  ServerConfig config;
  config.mode = MODE_ASYNC;
  config.optimizer.kind = OptimizerKind::kAdamW;
  config.optimizer.weight_decay = 0.1f;
  config.update_threads = update_threads;
  auto store = std::make_unique<ShardStore>(config);
  if (!store->Init(UpdateModel()).ok()) return 0;
  *params = store->num_params();
  std::vector<float> grad(store->num_params(), 1e-3f);  // (all local params)
  double best = 1e30;
  for (int r = 0; r <= kReps; ++r) {
    const auto start = std::chrono::steady_clock::now();
    int64_t offset = 0;
    for (int i = 0; i < store->num_chunks(); ++i) {
      if (!store->Push(i, 0, r, grad.data() + offset, 1).ok()) return 0;
      offset += store->chunk_info(i).numel;
    }
    if (r > 0) best = std::min(best, Seconds(start));
  }
  return kAdamBytes * static_cast<double>(*params) / best / 1e9;
}

}  // namespace

int RunUpdateSuite() {
  const int flag = absl::GetFlag(FLAGS_update_threads);
  if (flag < 0 || flag > 1024) {
    std::fprintf(stderr, "ps_bench: --update_threads must be in [0, 1024]\n");
    return 2;
  }
  UpdatePool all(flag), one(1);
  int64_t params = 0;
  const double adamw_all = StoreAdamwGbps(all.threads(), &params);
  const double adamw_one = StoreAdamwGbps(1, &params);
  if (adamw_all <= 0 || adamw_one <= 0) {
    std::fprintf(stderr, "ps_bench: the shard store refused the model\n");
    return 1;
  }
  const double copy_all = CopyGbps(all, params),
               copy_one = CopyGbps(one, params);
  const std::string threads = std::to_string(all.threads()) + " threads";
  std::vector<BenchRow> rows = {
      {"memcpy, 1 thread", copy_one, "GB/s", "read+write bytes"},
      {"memcpy, all cores", copy_all, "GB/s", threads},
      {"AdamW via ShardStore, 1 thread", adamw_one, "GB/s", "28 bytes/param"},
      {"AdamW via ShardStore, all cores", adamw_all, "GB/s", threads},
      {"AdamW updates/s, all cores", adamw_all * 1e9 / kAdamBytes / params,
       "1/s", "full 124M model"},
      {"adamw_vs_copy_all", adamw_all / copy_all, "ratio", ""},
  };
  std::printf(
      "update suite: %lld parameters (GPT-2 124M) in 4 MiB chunks, one "
      "server store, best of %d rounds\n",
      static_cast<long long>(params), kReps);
  PrintTable(rows);
  std::printf(
      "RESULT adamw_gbps=%.3f copy_gbps=%.3f adamw_vs_copy_all=%.3f "
      "threads=%d\n",
      adamw_all, copy_all, adamw_all / copy_all, all.threads());
  return 0;
}

}  // namespace pserve
