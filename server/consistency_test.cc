// Unit tests of the consistency rules on bare gates: the sync barrier and
// its retries, async admission, the version and SSP pull gates.
#include "server/consistency.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <vector>

#include "common/consistency_mode.h"

namespace pserve {
namespace {

ConsistencyConfig Config(ConsistencyMode mode, int workers, int staleness = 0) {
  ConsistencyConfig c;
  c.mode = mode;
  c.num_workers = workers;
  c.staleness = staleness;
  return c;
}

TEST_CASE("mode words parse in one place and round-trip") {
  for (const char* w : {"sync", "async", "ssp"})
    REQUIRE(ConsistencyModeName(ParseConsistencyMode(w).value()) == w);
  absl::StatusOr<ConsistencyMode> bad = ParseConsistencyMode("bsp");
  REQUIRE(absl::IsInvalidArgument(bad.status()));
  REQUIRE(bad.status().message().find("'bsp'") != absl::string_view::npos);
}

TEST_CASE("sync applies the weighted mean once every rank pushed") {
  Consistency rules(Config(MODE_SYNC, 2));
  ChunkGate g;
  rules.InitGate(g, 2);
  const float g0[2] = {1, 2}, g1[2] = {3, 6};
  // Rank 1 first, over 3 examples; rank 0 over 1 example.
  PushAdmission a = rules.Admit(g, 7, 1, 0, g1, 3).value();
  REQUIRE((a.fresh && a.apply == nullptr));
  REQUIRE_FALSE(rules.Admit(g, 7, 1, 0, g1, 3).value().fresh);  // retry
  a = rules.Admit(g, 7, 0, 0, g0, 1).value();
  REQUIRE((a.fresh && a.apply != nullptr));
  REQUIRE(a.apply[0] == 2.5f);  // (1 * 1 + 3 * 3) / 4
  REQUIRE(a.apply[1] == 5.0f);  // (1 * 2 + 3 * 6) / 4
  rules.Applied(g);
  REQUIRE(g.version == 1);
  // A retry of the applied step is recognised; other steps are refused.
  REQUIRE_FALSE(rules.Admit(g, 7, 1, 0, g1, 3).value().fresh);
  REQUIRE(absl::IsOutOfRange(rules.CheckPush(g, 7, 0, 2)));
  rules.Admit(g, 7, 0, 1, g0, 1).value();
  rules.Admit(g, 7, 1, 1, g1, 1).value();
  rules.Applied(g);
  REQUIRE(absl::IsOutOfRange(rules.CheckPush(g, 7, 0, 0)));
  REQUIRE(rules.ResumeStep(g, 1) == 2);
}

// The mean of one sync step of W ranks pushed in the given order.
std::vector<float> MeanInOrder(const std::vector<std::vector<float>>& grads,
                               const std::vector<int64_t>& examples,
                               const std::vector<int>& order) {
  Consistency rules(Config(MODE_SYNC, static_cast<int>(grads.size())));
  ChunkGate g;
  rules.InitGate(g, static_cast<int64_t>(grads[0].size()));
  const float* apply = nullptr;
  for (int r : order)
    apply = rules.Admit(g, 1, r, 0, grads[r].data(), examples[r]).value().apply;
  REQUIRE(apply != nullptr);
  return std::vector<float>(apply, apply + grads[0].size());
}

TEST_CASE("the sync mean is bit-identical for every arrival order") {
  std::vector<std::vector<float>> grads(4, std::vector<float>(257));
  uint32_t x = 12345;
  for (auto& v : grads)
    for (float& e : v) {
      x = x * 1664525u + 1013904223u;  // values of very different magnitude
      e = (static_cast<float>(x >> 8) / 16777216.0f - 0.5f) *
          static_cast<float>(1u << (x % 20));
    }
  const std::vector<int64_t> examples = {8, 3, 8, 5};
  std::vector<int> order = {0, 1, 2, 3};
  const std::vector<float> want = MeanInOrder(grads, examples, order);
  int orders = 0;
  bool all_equal = true;
  while (std::next_permutation(order.begin(), order.end())) {
    all_equal = all_equal && MeanInOrder(grads, examples, order) == want;
    ++orders;
  }
  REQUIRE(orders == 23);
  REQUIRE(all_equal);
}

TEST_CASE("the global loss is the example-weighted mean once all reported") {
  Consistency rules(Config(MODE_SYNC, 2));
  REQUIRE(rules.LatestGlobalLoss().step == -1);
  rules.RecordLoss(1, 0, 4.0, 3);
  rules.RecordLoss(1, 0, 100.0, 3);  // a retry: ignored
  REQUIRE(rules.LatestGlobalLoss().step == -1);
  rules.RecordLoss(0, 0, 2.0, 1);
  GlobalLoss l = rules.LatestGlobalLoss();
  REQUIRE(l.step == 0);
  REQUIRE(l.loss == 3.5);  // (2 * 1 + 4 * 3) / 4
  REQUIRE(l.examples == 4);
  rules.RecordLoss(0, 0, 9.0, 1);  // the past: ignored
  REQUIRE(rules.LatestGlobalLoss().loss == 3.5);
}

TEST_CASE("async applies every new push at once and skips retries") {
  Consistency rules(Config(MODE_ASYNC, 2));
  ChunkGate g;
  rules.InitGate(g, 1);
  const float grad[1] = {1};
  PushAdmission a = rules.Admit(g, 1, 1, 5, grad, 1).value();
  REQUIRE((a.fresh && a.apply == grad));
  REQUIRE_FALSE(rules.Admit(g, 1, 1, 5, grad, 1).value().fresh);
  REQUIRE(rules.ResumeStep(g, 1) == 6);
  REQUIRE(rules.ResumeStep(g, 0) == 0);
}

TEST_CASE("pull gates: version waits until the deadline, ssp holds the fast") {
  Consistency rules(Config(MODE_SSP, 2, 1));
  absl::Mutex mu;
  ChunkGate g;
  absl::Duration waited = absl::ZeroDuration();
  {
    absl::MutexLock lock(&mu);
    absl::Status s = rules.AwaitVersion(
        mu, g, 3, 1, absl::Now() + absl::Milliseconds(50), nullptr, &waited);
    REQUIRE(absl::IsDeadlineExceeded(s));
  }
  const absl::Time soon = absl::Now() + absl::Milliseconds(50);
  REQUIRE(rules.AwaitClock(0, 1, soon, nullptr, &waited).ok());
  REQUIRE(absl::IsDeadlineExceeded(rules.AwaitClock(
      0, 2, absl::Now() + absl::Milliseconds(50), nullptr, &waited)));
  REQUIRE(rules.AwaitClock(1, 1, soon, nullptr, &waited).ok());
  REQUIRE(rules.MinClock() == 1);
  REQUIRE(absl::IsCancelled(rules.AwaitClock(
      0, 3, absl::Now() + absl::Seconds(5), [] { return true; }, &waited)));
}

TEST_CASE("a sync step waiting past --worker_timeout names the rank") {
  ConsistencyConfig c = Config(MODE_SYNC, 2);
  c.worker_timeout = absl::Milliseconds(1);
  Consistency rules(c);
  ChunkGate g;
  rules.InitGate(g, 1);
  const float grad[1] = {2};
  rules.Heard(1);
  REQUIRE_FALSE(rules.NotePush(0, 0));
  REQUIRE(rules.Admit(g, 1, 0, 0, grad, 1).value().apply == nullptr);
  std::vector<char> missing(2, 0);
  rules.AddMissing(g, &missing);
  REQUIRE(missing == std::vector<char>{0, 1});
  absl::SleepFor(absl::Milliseconds(5));
  REQUIRE_FALSE(rules.Watch(0, missing));  // default: wait
  const StepWait wait = rules.CurrentWait();
  REQUIRE(wait.step == 0);
  REQUIRE(wait.ranks == std::vector<int>{1});
  REQUIRE(wait.last_heard_s[0] >= 0);
  REQUIRE(rules.DroppedRanks().empty());
  REQUIRE(rules.Recheck(g) == nullptr);
}

TEST_CASE("elastic: the missing rank is dropped, then rejoins at a boundary") {
  ConsistencyConfig c = Config(MODE_SYNC, 2);
  c.worker_timeout = absl::Milliseconds(1);
  c.elastic = true;
  Consistency rules(c);
  ChunkGate g;
  rules.InitGate(g, 1);
  const float g0[1] = {2}, g1[1] = {6};
  rules.NotePush(0, 0);
  rules.RecordLoss(0, 0, 1.5, 4);
  REQUIRE(rules.Admit(g, 1, 0, 0, g0, 4).value().apply == nullptr);
  std::vector<char> missing(2, 0);
  rules.AddMissing(g, &missing);
  absl::SleepFor(absl::Milliseconds(5));
  REQUIRE(rules.Watch(0, missing));
  REQUIRE(rules.DroppedRanks() == std::vector<int>{1});
  REQUIRE(rules.Dropped(1));
  REQUIRE_FALSE(rules.Dropped(0));
  REQUIRE_FALSE(rules.Dropped(2));  // out of range
  const float* mean = rules.Recheck(g);  // completes with rank 0 alone
  REQUIRE(mean != nullptr);
  REQUIRE(mean[0] == 2.0f);
  rules.Applied(g);
  rules.RecheckLosses();
  REQUIRE(rules.LatestGlobalLoss().step == 0);
  REQUIRE(rules.LatestGlobalLoss().loss == 1.5);
  // Rank 1 pushes again: taken back from step 2; step 0 and 1 pushes of it
  // are accepted and ignored.
  REQUIRE(rules.NotePush(1, 0));
  rules.Rejoin(1, 2);
  REQUIRE(rules.DroppedRanks().empty());
  REQUIRE_FALSE(rules.Dropped(1));
  REQUIRE(rules.CheckPush(g, 1, 1, 0).ok());
  REQUIRE_FALSE(rules.Admit(g, 1, 1, 1, g1, 4).value().fresh);
  REQUIRE(rules.Admit(g, 1, 0, 1, g0, 4).value().apply != nullptr);
  rules.Applied(g);
  REQUIRE(rules.Admit(g, 1, 0, 2, g0, 4).value().apply == nullptr);
  mean = rules.Admit(g, 1, 1, 2, g1, 4).value().apply;
  REQUIRE(mean != nullptr);
  REQUIRE(mean[0] == 4.0f);
}

}  // namespace
}  // namespace pserve
