// Tests for the worker's progress reports: the final-scrape wait that lets
// Prometheus read a finished job's last values (--metrics_linger).
// Thread-safety: a scraper thread only fetches; the main thread asserts.
#include "worker/train_metrics.h"

#include <httplib.h>

#include <catch2/catch.hpp>
#include <string>
#include <thread>

#include "absl/time/clock.h"

namespace pserve {
namespace {

// GET /metrics on 127.0.0.1:port; the body, or "" on failure.
std::string Scrape(int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(5, 0);
  auto res = client.Get("/metrics");
  return res && res->status == 200 ? res->body : "";
}

std::unique_ptr<TrainMetrics> ServingMetrics() {
  absl::StatusOr<std::unique_ptr<TrainMetrics>> m =
      TrainMetrics::Create("", 0, 3);
  REQUIRE(m.ok());
  REQUIRE((*m)->metrics_port() > 0);
  return std::move(*m);
}

TEST_CASE("the final scrape sees the last step and ends the wait") {
  std::unique_ptr<TrainMetrics> m = ServingMetrics();
  m->RecordStep(59, 2.5, StepTiming{0, 0.1, 0, 0.1}, 128);
  std::string body;  // written by the scraper, read after join
  std::thread scraper([&] {
    absl::SleepFor(absl::Milliseconds(200));
    body = Scrape(m->metrics_port());
  });
  const absl::Time start = absl::Now();
  const bool scraped = m->AwaitFinalScrape(absl::Seconds(20));
  const absl::Duration waited = absl::Now() - start;
  scraper.join();
  CHECK(scraped);
  CHECK(waited < absl::Seconds(10));
  CHECK(body.find("pserve_worker_step{rank=\"3\",role=\"worker\"} 59\n") !=
        std::string::npos);
}

TEST_CASE("a scrape before the wait does not count; the wait is bounded") {
  std::unique_ptr<TrainMetrics> m = ServingMetrics();
  CHECK(!Scrape(m->metrics_port()).empty());
  const absl::Time start = absl::Now();
  CHECK(!m->AwaitFinalScrape(absl::Milliseconds(300)));
  CHECK(absl::Now() - start >= absl::Milliseconds(300));
}

TEST_CASE("no wait without a metrics port or with linger 0") {
  absl::StatusOr<std::unique_ptr<TrainMetrics>> off =
      TrainMetrics::Create("", -1, 0);
  REQUIRE(off.ok());
  const absl::Time start = absl::Now();
  CHECK(!(*off)->AwaitFinalScrape(absl::Seconds(30)));
  std::unique_ptr<TrainMetrics> on = ServingMetrics();
  CHECK(!on->AwaitFinalScrape(absl::ZeroDuration()));
  CHECK(absl::Now() - start < absl::Seconds(5));
}

}  // namespace
}  // namespace pserve
