// Tests for the Prometheus metrics registry and its /metrics HTTP server.
// Thread-safety: exercised by the concurrent-update test below.
#include "common/metrics.h"

#include <httplib.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <string>
#include <thread>
#include <vector>

namespace pserve {
namespace {

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST_CASE("counter and gauge render in text format 0.0.4") {
  MetricsRegistry registry;
  Counter* pushes = registry.AddCounter("ps_pushes_total", "Pushes applied.");
  Gauge* step = registry.AddGauge("ps_step", "Current step.");
  pushes->Increment();
  pushes->Increment(2);
  pushes->Increment(-5);  // ignored: counters never decrease
  step->Set(41);
  step->Add(1.5);
  step->Sub(0.5);

  CHECK(pushes->Value() == 3);
  CHECK(step->Value() == 42);
  CHECK(registry.RenderPrometheusText() ==
        "# HELP ps_pushes_total Pushes applied.\n"
        "# TYPE ps_pushes_total counter\n"
        "ps_pushes_total 3\n"
        "# HELP ps_step Current step.\n"
        "# TYPE ps_step gauge\n"
        "ps_step 42\n");
}

TEST_CASE("histogram renders cumulative buckets, sum and count") {
  MetricsRegistry registry;
  Histogram* h =
      registry.AddHistogram("rpc_seconds", "RPC latency.", {0.005, 0.1, 1});
  h->Observe(0.5);
  h->Observe(0.1);  // on a bound: counted in le="0.1"
  h->Observe(0.001);
  h->Observe(7);  // only +Inf

  // prometheus-cpp writes count and sum before the buckets.
  CHECK(registry.RenderPrometheusText() ==
        "# HELP rpc_seconds RPC latency.\n"
        "# TYPE rpc_seconds histogram\n"
        "rpc_seconds_count 4\n"
        "rpc_seconds_sum 7.601\n"
        "rpc_seconds_bucket{le=\"0.005\"} 1\n"
        "rpc_seconds_bucket{le=\"0.1\"} 2\n"
        "rpc_seconds_bucket{le=\"1\"} 3\n"
        "rpc_seconds_bucket{le=\"+Inf\"} 4\n");
  CHECK(h->Collect().sum == Approx(7.601));
}

TEST_CASE("constant labels appear on every sample, sorted, escaped") {
  MetricsRegistry registry(
      {{"role", "server"}, {"id", "0"}, {"note", "a\"b\\c\nd"}});
  registry.AddCounter("bytes_total", "Bytes\nmoved \\ total.")->Increment(1e12);
  registry.AddHistogram("h", "H.", {1})->Observe(2);
  const std::string text = registry.RenderPrometheusText();
  const std::string labels =
      "id=\"0\",note=\"a\\\"b\\\\c\\nd\",role=\"server\"";
  CHECK(Contains(text, "# HELP bytes_total Bytes\\nmoved \\\\ total.\n"));
  CHECK(Contains(text, "bytes_total{" + labels + "} 1000000000000\n"));
  CHECK(Contains(text, "h_bucket{" + labels + ",le=\"1\"} 0\n"));
  CHECK(Contains(text, "h_bucket{" + labels + ",le=\"+Inf\"} 1\n"));
  CHECK(Contains(text, "h_sum{" + labels + "} 2\n"));
  CHECK(Contains(text, "h_count{" + labels + "} 1\n"));
}

TEST_CASE("re-adding a name returns the same metric") {
  MetricsRegistry registry;
  Counter* a = registry.AddCounter("c_total", "first");
  Counter* b = registry.AddCounter("c_total", "second");
  CHECK(a == b);
  Histogram* h1 = registry.AddHistogram("lat", "x", {1, 2, HUGE_VAL});
  Histogram* h2 = registry.AddHistogram("lat", "x", {1, 2});
  CHECK(h1 == h2);
  CHECK(h1->bounds() == std::vector<double>{1, 2});
}

TEST_CASE("bucket helpers") {
  CHECK(Histogram::ExponentialBuckets(1, 2, 4) ==
        std::vector<double>{1, 2, 4, 8});
  CHECK(Histogram::LinearBuckets(0, 5, 3) == std::vector<double>{0, 5, 10});
}

TEST_CASE("concurrent updates are not lost") {
  MetricsRegistry registry;
  Counter* c = registry.AddCounter("n_total", "n");
  Gauge* g = registry.AddGauge("g", "g");
  Histogram* h = registry.AddHistogram("h", "h", {0.5});
  constexpr int kThreads = 4;
  constexpr int kIters = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIters; ++i) {
        c->Increment();
        g->Add(1);
        h->Observe(1);
        if (i % 1000 == 0) registry.RenderPrometheusText();
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(c->Value() == kThreads * kIters);
  CHECK(g->Value() == kThreads * kIters);
  const Histogram::Snapshot s = h->Collect();
  CHECK(s.count == static_cast<uint64_t>(kThreads * kIters));
  CHECK(s.cumulative[0] == 0);
  CHECK(s.sum == kThreads * kIters);
}

TEST_CASE("HTTP /metrics on loopback serves values that move") {
  MetricsRegistry registry({{"role", "worker"}, {"id", "3"}});
  Counter* steps = registry.AddCounter("worker_steps_total", "Steps done.");
  Histogram* h =
      registry.AddHistogram("worker_step_seconds", "Step time.", {0.1, 1});
  MetricsHttpServer server(&registry);
  absl::StatusOr<int> port = server.Start(0, "127.0.0.1");
  REQUIRE(port.ok());
  REQUIRE(*port > 0);
  CHECK(server.port() == *port);

  // A second Start on a running server is refused.
  CHECK(server.Start(0, "127.0.0.1").status().code() ==
        absl::StatusCode::kFailedPrecondition);

  httplib::Client client("127.0.0.1", *port);
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(5, 0);

  auto res = client.Get("/metrics");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(Contains(res->get_header_value("Content-Type"), "text/plain"));
  CHECK(
      Contains(res->body, "worker_steps_total{id=\"3\",role=\"worker\"} 0\n"));

  steps->Increment(5);
  h->Observe(0.05);
  res = client.Get("/metrics");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(
      Contains(res->body, "worker_steps_total{id=\"3\",role=\"worker\"} 5\n"));
  CHECK(Contains(res->body,
                 "worker_step_seconds_bucket{id=\"3\",role=\"worker\","
                 "le=\"0.1\"} 1\n"));
  CHECK(Contains(res->body,
                 "worker_step_seconds_count{id=\"3\",role=\"worker\"} 1\n"));

  res = client.Get("/nope");
  REQUIRE(res);
  CHECK(res->status == 404);

  // A port in use is reported, not fatal.
  MetricsHttpServer clash(&registry);
  CHECK(clash.Start(*port, "127.0.0.1").status().code() ==
        absl::StatusCode::kUnavailable);
  CHECK(clash.Start(70000).status().code() ==
        absl::StatusCode::kInvalidArgument);

  const int old_port = *port;
  server.Stop();
  CHECK(server.port() == 0);
  server.Stop();  // idempotent
  httplib::Client after("127.0.0.1", old_port);
  after.set_connection_timeout(1, 0);
  CHECK(!after.Get("/metrics"));

  // Restartable after Stop().
  port = server.Start(0, "127.0.0.1");
  REQUIRE(port.ok());
  httplib::Client again("127.0.0.1", *port);
  res = again.Get("/metrics");
  REQUIRE(res);
  CHECK(
      Contains(res->body, "worker_steps_total{id=\"3\",role=\"worker\"} 5\n"));
}

TEST_CASE("before_scrape runs before each rendering") {
  MetricsRegistry registry;
  Counter* scrapes = registry.AddCounter("scrapes_total", "Scrapes seen.");
  std::atomic<int> calls{0};  // bumped on the server's request threads
  MetricsHttpServer server(&registry, [&] {
    calls.fetch_add(1);
    scrapes->Increment();
  });
  absl::StatusOr<int> port = server.Start(0, "127.0.0.1");
  REQUIRE(port.ok());
  httplib::Client client("127.0.0.1", *port);
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(5, 0);
  for (int i = 1; i <= 3; ++i) {
    auto res = client.Get("/metrics");
    REQUIRE(res);
    // The value copied in by this scrape's own callback is already there.
    CHECK(Contains(res->body, "scrapes_total " + std::to_string(i) + "\n"));
  }
  server.Stop();
  CHECK(calls.load() == 3);
}

TEST_CASE("Stop right after Start does not hang") {
  MetricsRegistry registry;
  for (int i = 0; i < 20; ++i) {
    MetricsHttpServer server(&registry);
    REQUIRE(server.Start(0, "127.0.0.1").ok());
    server.Stop();
  }
}

}  // namespace
}  // namespace pserve
