// Unit tests of the consistency rules on bare gates: the sync barrier and
// its retries, async admission, the version and SSP pull gates.
#include "server/consistency.h"

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

TEST_CASE("sync applies the mean once every rank pushed; retries count once") {
  Consistency rules(Config(MODE_SYNC, 2));
  ChunkGate g;
  rules.InitGate(g, 2);
  const float g0[2] = {1, 2}, g1[2] = {3, 6};
  PushAdmission a = rules.Admit(g, 7, 0, 0, g0).value();
  REQUIRE((a.fresh && a.apply == nullptr));
  REQUIRE_FALSE(rules.Admit(g, 7, 0, 0, g0).value().fresh);  // retry
  a = rules.Admit(g, 7, 1, 0, g1).value();
  REQUIRE((a.fresh && a.apply != nullptr));
  REQUIRE(a.apply[0] == 2.0f);
  REQUIRE(a.apply[1] == 4.0f);
  rules.Applied(g);
  REQUIRE(g.version == 1);
  // A retry of the applied step is recognised; other steps are refused.
  REQUIRE_FALSE(rules.Admit(g, 7, 1, 0, g1).value().fresh);
  REQUIRE(absl::IsOutOfRange(rules.CheckPush(g, 7, 0, 2)));
  rules.Admit(g, 7, 0, 1, g0).value();
  rules.Admit(g, 7, 1, 1, g1).value();
  rules.Applied(g);
  REQUIRE(absl::IsOutOfRange(rules.CheckPush(g, 7, 0, 0)));
  REQUIRE(rules.ResumeStep(g, 1) == 2);
}

TEST_CASE("async applies every new push at once and skips retries") {
  Consistency rules(Config(MODE_ASYNC, 2));
  ChunkGate g;
  rules.InitGate(g, 1);
  const float grad[1] = {1};
  PushAdmission a = rules.Admit(g, 1, 1, 5, grad).value();
  REQUIRE((a.fresh && a.apply == grad));
  REQUIRE_FALSE(rules.Admit(g, 1, 1, 5, grad).value().fresh);
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

}  // namespace
}  // namespace pserve
