// Pull admission: the per-caller and per-server caps refuse with
// RESOURCE_EXHAUSTED naming their flags, and released slots admit again.
#include "server/pull_limiter.h"

#include <catch2/catch.hpp>
#include <optional>
#include <vector>

namespace pserve {
namespace {

Caller Worker(int rank) {
  Caller c;
  c.set_role(Caller::WORKER);
  c.set_rank(rank);
  return c;
}

TEST_CASE("pull caps per caller and per server") {
  ServiceLimits limits;
  limits.max_waiting_pulls = 3;
  limits.max_waiting_pulls_per_caller = 2;
  PullLimiter limiter(limits);
  std::vector<PullLimiter::Slot> held;
  for (int i = 0; i < 2; ++i) {
    auto slot = limiter.Admit(Worker(0));
    REQUIRE(slot.ok());
    held.push_back(*std::move(slot));
  }
  absl::StatusOr<PullLimiter::Slot> third = limiter.Admit(Worker(0));
  REQUIRE(absl::IsResourceExhausted(third.status()));
  CHECK(third.status().message().find("--max_waiting_pulls_per_caller=2") !=
        std::string::npos);
  auto other = limiter.Admit(Worker(1));  // another caller: its own budget
  REQUIRE(other.ok());
  absl::StatusOr<PullLimiter::Slot> full = limiter.Admit(Worker(2));
  REQUIRE(absl::IsResourceExhausted(full.status()));
  CHECK(full.status().message().find("--max_waiting_pulls=3") !=
        std::string::npos);
  CHECK(limiter.in_progress() == 3);
  held.pop_back();  // one of worker 0's pulls finished
  CHECK(limiter.in_progress() == 2);
  CHECK(limiter.Admit(Worker(0)).ok());  // admitted, then released at once
  CHECK(limiter.in_progress() == 2);
}

}  // namespace
}  // namespace pserve
