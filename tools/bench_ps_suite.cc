// The PS data-plane and server-update benchmark. Servers run as separate
// processes on loopback, as in a deployment; the TCP baseline also crosses
// a process boundary, so both sides pay the same kernel copies.
#include <atomic>
#include <cstdio>
#include <future>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "cluster/local_cluster.h"
#include "tools/bench_common.h"
#include "tools/ps_bench_suites.h"
#include "worker/client/ps_client.h"

ABSL_FLAG(int, channels, 2,
          "--suite=ps: HTTP/2 connections per server per client");

namespace pserve {
namespace {

InitRequest BenchModel(int workers) {
  InitRequest r;
  for (const TensorSpec& t : Gpt2SmallTensors()) *r.add_tensors() = t;
  r.set_seed(1);
  r.set_chunk_bytes(4 << 20);
  r.set_num_workers(workers);
  r.set_mode(MODE_ASYNC);
  return r;
}

// Push+pull GB/s (bytes pushed plus bytes pulled over wall time) with
// `clients` concurrent clients each moving the whole gradient set.
double MeasurePushPull(const BenchServers& servers, int clients, int rounds) {
  auto cluster = LocalCluster::Start(
      2,
      servers.With({absl::StrCat("--num_workers=", clients), "--mode=async",
                    "--optimizer=sgd", "--lr=1e-9", "--log_level=warn"}),
      servers.binary);
  if (!cluster.ok()) {
    std::fprintf(stderr, "%s\n", cluster.status().ToString().c_str());
    return 0;
  }
  std::vector<std::unique_ptr<PsClient>> conns;
  for (int c = 0; c < clients; ++c) {
    ClientOptions o;
    o.servers = cluster->addresses();
    o.rank = c;
    o.security = servers.security;
    o.channels_per_server = absl::GetFlag(FLAGS_channels);
    auto client = PsClient::Connect(o);
    if (!client.ok() || !(*client)->Init(BenchModel(clients)).ok()) return 0;
    conns.push_back(*std::move(client));
  }
  const int64_t n = conns[0]->layout().total_params();
  std::vector<std::vector<float>> bufs(clients, std::vector<float>(n, 1e-3f));
  auto round = [&](int c, int step) {
    auto s = conns[c]->Push(bufs[c].data(), {step, 1});
    if (s.ok()) s = conns[c]->Pull(bufs[c].data(), 0, step).status();
    return s.ok();
  };
  for (int c = 0; c < clients; ++c) round(c, 0);  // warm buffers and windows
  auto start = std::chrono::steady_clock::now();
  std::vector<std::future<bool>> runs;
  for (int c = 0; c < clients; ++c)
    runs.push_back(std::async(std::launch::async, [&, c] {
      bool ok = true;
      for (int r = 1; r <= rounds; ++r) ok = ok && round(c, r);
      return ok;
    }));
  bool ok = true;
  for (auto& f : runs) ok = f.get() && ok;
  const double secs = Seconds(start);
  return ok ? 2.0 * n * 4 * rounds * clients / secs / 1e9 : 0;
}

}  // namespace

int RunPsSuite(const BenchServers& servers, int rounds) {
  std::vector<BenchRow> rows;
  const double tcp = MeasureLoopbackTcp(size_t{4} << 30);
  rows.push_back(
      {"loopback TCP, 1 stream", tcp, "GB/s", "4 GiB, process to process"});
  const double one = MeasurePushPull(servers, 1, rounds);
  rows.push_back({"push+pull 124M fp32, 1 client", one, "GB/s",
                  "2 servers, 498 MB each way per round"});
  const double two = MeasurePushPull(servers, 2, rounds);
  rows.push_back({"push+pull 124M fp32, 2 clients", two, "GB/s",
                  "aggregate of both clients"});
  const size_t n = 124475904;
  const double copy = MeasureCopyGbps(n, 5);
  rows.push_back({"memcpy, 1 thread", copy, "GB/s", "read+write bytes"});
  const double adamw = MeasureAdamwGbps(n, 5);
  rows.push_back({"AdamW update, 1 thread", adamw, "GB/s", "28 bytes/param"});
  const double best = std::max(one, two);
  rows.push_back({"pushpull_vs_tcp", best / tcp, "ratio", "best client count"});
  rows.push_back({"adamw_vs_copy", adamw / copy, "ratio", ""});
  PrintTable(rows);
  std::printf(
      "RESULT pushpull_gbps=%.3f tcp_gbps=%.3f pushpull_vs_tcp=%.3f "
      "adamw_vs_copy=%.3f\n",
      best, tcp, best / tcp, adamw / copy);
  return best > 0 ? 0 : 1;
}

}  // namespace pserve
