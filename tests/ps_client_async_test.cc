// PsClient's tickets against real servers: async pulls and pushes complete
// with the right values, errors reach Wait, many tickets in flight start no
// thread each, and the retry policy governs every RPC (a GetStats survives a
// server restart; a bounded policy gives up on time). Assertions on the
// main thread only; helper threads hand results back through futures.
#include <dirent.h>

#include <catch2/catch.hpp>
#include <future>

#include "tests/ps_test_util.h"

namespace pserve {
namespace {

int ThreadCount() {
  int n = 0;
  DIR* d = opendir("/proc/self/task");
  if (d == nullptr) return -1;
  while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

TEST_CASE("async pushes and pulls finish through their tickets") {
  auto cluster =
      LocalCluster::Start(2, {"--num_workers=1", "--optimizer=sgd", "--lr=1"});
  REQUIRE(cluster.ok());
  auto client = MakeClient(*cluster, 0, SmallModel(1, MODE_SYNC));
  const int64_t n = client->layout().total_params();
  std::vector<float> before(n), after(n);
  int64_t version = -1;
  REQUIRE(client->Wait(client->PullAsync(before.data(), 0, 0), &version).ok());
  CHECK(version == 0);
  const std::vector<float> g = KnownGrads(0, 0, n);
  PsClient::Ticket push = client->PushAsync(g.data(), PushTag{0, 1, 1.0});
  PsClient::Ticket pull = client->PullAsync(after.data(), 1, 1);
  REQUIRE(client->Wait(push).ok());
  REQUIRE(client->Wait(pull, &version).ok());
  CHECK(version == 1);
  int wrong = 0;
  for (int64_t i = 0; i < n; ++i) wrong += after[i] != before[i] - g[i];
  CHECK(wrong == 0);
  REQUIRE(client->Wait(pull).ok());  // waiting again answers the same
  REQUIRE(client->Wait(PsClient::Ticket()).ok());
}

TEST_CASE("errors reach Wait with the server's code and message") {
  auto cluster = LocalCluster::Start(2, {"--num_workers=1"});
  REQUIRE(cluster.ok());
  auto fresh = ConnectClient(*cluster, 0);
  std::vector<float> p(4096);
  CHECK(absl::IsFailedPrecondition(
      fresh->Wait(fresh->PullAsync(p.data(), 0, 0))));
  auto client = MakeClient(*cluster, 0, SmallModel(1, MODE_SYNC));
  const std::vector<float> g =
      KnownGrads(0, 0, client->layout().total_params());
  absl::Status s =
      client->Wait(client->PushAsync(g.data(), PushTag{0, 0, 1.0}));
  CHECK(absl::IsInvalidArgument(s));
  CHECK(s.message().find("example_count") != absl::string_view::npos);
  s = client->Wait(client->PushAsync(g.data(), PushTag{7, 1, 1.0}));
  CHECK(absl::IsOutOfRange(s));
  s = client->Wait(client->PullChunksAsync(p.data(), 0, 0, {100000}));
  CHECK(absl::IsInvalidArgument(s));
}

TEST_CASE("tickets in flight start no thread per call") {
  auto cluster = LocalCluster::Start(2, {"--num_workers=1"});
  REQUIRE(cluster.ok());
  auto client = MakeClient(*cluster, 0, SmallModel(1, MODE_SYNC));
  const int64_t n = client->layout().total_params();
  std::vector<float> p0(n);
  REQUIRE(client->Pull(p0.data(), 0, 0).ok());  // gRPC's threads exist now
  const int threads_before = ThreadCount();
  constexpr int kTickets = 48;
  std::vector<std::vector<float>> bufs(kTickets, std::vector<float>(n));
  std::vector<PsClient::Ticket> held;
  for (int k = 0; k < kTickets; ++k)  // version 1 needs the push below
    held.push_back(client->PullAsync(bufs[k].data(), 1, 1));
  absl::SleepFor(absl::Milliseconds(300));
  const int threads_during = ThreadCount();
  int done_early = 0;
  for (const auto& t : held)
    done_early += client->WaitFor(t, absl::ZeroDuration());
  const std::vector<float> g = KnownGrads(0, 0, n);
  REQUIRE(client->Push(g.data(), PushTag{0, 1, 1.0}).ok());
  int failed = 0;
  for (const auto& t : held) failed += !client->Wait(t).ok();
  CHECK(done_early == 0);
  CHECK(failed == 0);
  INFO("threads before " << threads_before << ", with " << kTickets
                         << " pulls waiting " << threads_during);
  CHECK(threads_during < threads_before + 8);
}

TEST_CASE("a cancelled ticket finishes CANCELLED without its version") {
  auto cluster = LocalCluster::Start(1, {"--num_workers=1"});
  REQUIRE(cluster.ok());
  auto client = MakeClient(*cluster, 0, SmallModel(1, MODE_SYNC));
  std::vector<float> p(client->layout().total_params());
  PsClient::Ticket held = client->PullAsync(p.data(), 1, 1);  // never comes
  REQUIRE(!client->WaitFor(held, absl::Milliseconds(200)));
  client->Cancel(held);
  REQUIRE(client->WaitFor(held, absl::Seconds(10)));
  CHECK(absl::IsCancelled(client->Wait(held)));
}

TEST_CASE("the retry policy governs control RPCs too") {
  auto cluster = LocalCluster::Start(1, {"--num_workers=1"});
  REQUIRE(cluster.ok());
  auto client = MakeClient(*cluster, 0, SmallModel(1, MODE_SYNC));
  cluster->Kill(0);
  // A GetStats issued while the server is down is retried until it is back.
  auto stats =
      std::async(std::launch::async, [&] { return client->GetStats(); });
  absl::SleepFor(absl::Milliseconds(500));
  REQUIRE(cluster->Restart(0).ok());
  auto got = stats.get();
  INFO(got.status().ToString());
  REQUIRE(got.ok());
  CHECK(got->size() == 1);

  ClientOptions bounded = TestClientOptions(*cluster, 0);
  bounded.retry.initial_backoff = absl::Milliseconds(20);
  bounded.retry.max_backoff = absl::Milliseconds(100);
  bounded.retry.deadline = absl::Seconds(2);
  auto quick = PsClient::Connect(bounded);
  REQUIRE(quick.ok());
  ClientOptions single = TestClientOptions(*cluster, 0);
  single.retry.max_attempts = 1;  // no retry, whatever the deadline
  auto once = PsClient::Connect(single);
  REQUIRE(once.ok());
  cluster->Kill(0);
  absl::Time start = absl::Now();
  absl::Status s = (*quick)->GetStats().status();
  const absl::Duration bounded_took = absl::Now() - start;
  start = absl::Now();
  absl::Status s1 = (*once)->GetStats().status();
  const absl::Duration single_took = absl::Now() - start;
  CHECK(absl::IsUnavailable(s));
  CHECK(bounded_took >= absl::Milliseconds(1500));
  CHECK(bounded_took < absl::Seconds(10));
  CHECK(absl::IsUnavailable(s1));
  CHECK(single_took < absl::Seconds(1));
}

}  // namespace
}  // namespace pserve
