// The soak: many concurrent clients doing mixed pushes and pulls against two
// async servers for a fixed time. Passes only with zero failed RPCs and the
// servers' resident memory flat (within 5%) after warm-up; prints p50/p99
// latency. Threads: one per client (each owns its PsClient and buffers)
// plus the main thread, which samples /proc and joins them.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cluster/local_cluster.h"
#include "tools/bench_common.h"
#include "tools/ps_bench_suites.h"
#include "worker/client/ps_client.h"

namespace pserve {
namespace {

constexpr double kWarmupFraction = 0.5;  // of the run; RSS is judged after
constexpr double kMaxRssGrowth = 0.05;

// About 227K parameters (0.9 MB) in 16 chunks of at most 64 KiB: small
// messages, so the run is many RPCs rather than a bandwidth test.
InitRequest SoakModel(int clients) {
  InitRequest r;
  const std::vector<std::vector<int64_t>> shapes = {
      {256, 512}, {512}, {128, 512}, {100, 300}, {7}};
  for (size_t i = 0; i < shapes.size(); ++i) {
    TensorSpec* t = r.add_tensors();
    t->set_name(absl::StrCat("t", i));
    for (int64_t d : shapes[i]) t->add_shape(d);
    t->mutable_init()->set_kind(InitRule::NORMAL);
    t->mutable_init()->set_std(0.02f);
  }
  r.set_seed(3);
  r.set_chunk_bytes(64 << 10);
  r.set_num_workers(clients);
  r.set_mode(MODE_ASYNC);
  return r;
}

// Resident set size of a process in KiB (VmRSS), or -1.
int64_t ResidentKib(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string key;
  int64_t kib = -1;
  while (status >> key)
    if (key == "VmRSS:" && (status >> kib)) break;
  return kib;
}

struct ClientResult {
  std::vector<float> push_ms, pull_ms;
  int64_t errors = 0;
  std::string first_error;
};

// One client's loop until `stop`: a random tensor subset, then a push
// (step = pushes so far) or a pull, each timed. Never asserts.
void RunClient(PsClient& client, uint32_t seed, const std::atomic<bool>& stop,
               ClientResult* out) {
  const ModelLayout& layout = client.layout();
  std::vector<float> buf(layout.total_params(), 1e-4f);
  std::mt19937 rng(seed);
  int64_t step = client.resume_step();
  while (!stop.load()) {
    std::vector<int> tensors;
    for (int t = 0; t < static_cast<int>(layout.tensors().size()); ++t)
      if (rng() % 2) tensors.push_back(t);
    const bool push = rng() % 2;
    const auto start = std::chrono::steady_clock::now();
    absl::Status s = push ? client.Push(buf.data(), {step, 1}, tensors)
                          : client.Pull(buf.data(), 0, step, tensors).status();
    const float ms = static_cast<float>(Seconds(start) * 1e3);
    (push ? out->push_ms : out->pull_ms).push_back(ms);
    if (push && s.ok()) ++step;
    if (!s.ok() && out->errors++ == 0) out->first_error = s.ToString();
  }
}

float Percentile(std::vector<float>& v, double q) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(q * v.size()));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k];
}

// Prints the table and RESULT line; 0 if no RPC failed and every server's
// resident memory stayed within kMaxRssGrowth of its post-warm-up value.
int ReportSoak(std::vector<ClientResult>& results,
               const std::vector<std::vector<int64_t>>& rss, double elapsed,
               int clients) {
  std::vector<float> push, pull;
  int64_t errors = 0;
  std::string first_error;
  for (ClientResult& r : results) {
    push.insert(push.end(), r.push_ms.begin(), r.push_ms.end());
    pull.insert(pull.end(), r.pull_ms.begin(), r.pull_ms.end());
    if (r.errors > 0 && first_error.empty()) first_error = r.first_error;
    errors += r.errors;
  }
  const size_t warm = static_cast<size_t>(rss.size() * kWarmupFraction);
  double growth = rss.size() > warm ? 0 : 1;  // too short to judge: fail
  std::vector<BenchRow> rows = {
      {"clients", static_cast<double>(clients), "", "2 async servers"},
      {"operations", static_cast<double>(push.size() + pull.size()), "",
       absl::StrCat(push.size(), " pushes, ", pull.size(), " pulls")},
      {"throughput", (push.size() + pull.size()) / elapsed, "ops/s", ""},
      {"failed RPCs", static_cast<double>(errors), "", first_error},
      {"push p50", Percentile(push, 0.5), "ms", ""},
      {"push p99", Percentile(push, 0.99), "ms", ""},
      {"pull p50", Percentile(pull, 0.5), "ms", ""},
      {"pull p99", Percentile(pull, 0.99), "ms", ""}};
  for (size_t s = 0; rss.size() > warm && s < rss[warm].size(); ++s) {
    int64_t peak = 0;
    for (size_t i = warm; i < rss.size(); ++i) peak = std::max(peak, rss[i][s]);
    const double g = static_cast<double>(peak) / rss[warm][s] - 1;
    growth = std::max(growth, g);
    rows.push_back({absl::StrCat("server ", s, " RSS after warm-up"),
                    rss[warm][s] / 1024.0, "MiB",
                    absl::StrCat("peak ", peak / 1024, " MiB, end ",
                                 rss.back()[s] / 1024, " MiB")});
  }
  rows.push_back({"RSS growth after warm-up", 100 * growth, "%",
                  absl::StrCat("limit ", 100 * kMaxRssGrowth, "%")});
  PrintTable(rows);
  std::printf(
      "RESULT soak_seconds=%.0f ops=%zu errors=%lld push_p50_ms=%.2f "
      "push_p99_ms=%.2f pull_p50_ms=%.2f pull_p99_ms=%.2f rss_growth=%.4f\n",
      elapsed, push.size() + pull.size(), static_cast<long long>(errors),
      Percentile(push, 0.5), Percentile(push, 0.99), Percentile(pull, 0.5),
      Percentile(pull, 0.99), growth);
  return errors == 0 && growth <= kMaxRssGrowth ? 0 : 1;
}

}  // namespace

int RunSoakSuite(const BenchServers& servers, int seconds, int clients) {
  auto cluster = LocalCluster::Start(
      2,
      servers.With({absl::StrCat("--num_workers=", clients), "--mode=async",
                    "--optimizer=sgd", "--lr=1e-6", "--log_level=warn"}),
      servers.binary);
  if (!cluster.ok()) {
    std::fprintf(stderr, "soak: %s\n", cluster.status().ToString().c_str());
    return 1;
  }
  std::vector<std::unique_ptr<PsClient>> conns;
  for (int c = 0; c < clients; ++c) {
    ClientOptions o;
    o.servers = cluster->addresses();
    o.rank = c;
    o.security = servers.security;
    auto client = PsClient::Connect(o);
    absl::Status s =
        client.ok() ? (*client)->Init(SoakModel(clients)) : client.status();
    if (!s.ok()) {
      std::fprintf(stderr, "soak: client %d: %s\n", c, s.ToString().c_str());
      return 1;
    }
    conns.push_back(*std::move(client));
  }
  std::atomic<bool> stop{false};
  std::vector<ClientResult> results(clients);
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c)
    threads.emplace_back(RunClient, std::ref(*conns[c]), 1000 + c,
                         std::cref(stop), &results[c]);
  // (samples, servers) resident KiB, one row per second.
  std::vector<std::vector<int64_t>> rss;
  const auto start = std::chrono::steady_clock::now();
  while (Seconds(start) < seconds) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    std::vector<int64_t> row;
    for (pid_t pid : cluster->pids()) row.push_back(ResidentKib(pid));
    rss.push_back(row);
  }
  stop.store(true);
  for (std::thread& t : threads) t.join();
  const double elapsed = Seconds(start);
  return ReportSoak(results, rss, elapsed, clients);
}

}  // namespace pserve
