// The sync recovery plan, from the servers' Init replies: resume where every
// chunk still holds the step's parameters, else roll back to the newest
// checkpoint step all servers hold, else a clear error.
#include "worker/recovery.h"

#include <catch2/catch.hpp>
#include <vector>

namespace pserve {
namespace {

InitResponse Reply(std::vector<int64_t> versions, int64_t resume,
                   std::vector<int64_t> checkpoints) {
  InitResponse r;
  for (int64_t v : versions) r.add_versions(v);
  r.set_resume_step(resume);
  for (int64_t s : checkpoints) r.add_checkpoint_steps(s);
  return r;
}

TEST_CASE("every chunk still at the rank's next step: resume, no rollback") {
  // A rank that pushed step 15 to server 0 only; nobody else moved on.
  auto plan =
      PlanSyncRecovery({Reply({15, 15}, 16, {10}), Reply({15, 15}, 15, {10})});
  REQUIRE(plan.ok());
  REQUIRE(plan->rollback_step == -1);
  REQUIRE(plan->resume_step == 15);
  // The rank pushed everything of step 15; the others have not yet.
  plan = PlanSyncRecovery({Reply({15, 15}, 16, {}), Reply({15}, 16, {})});
  REQUIRE(plan.ok());
  REQUIRE(plan->rollback_step == -1);
  REQUIRE(plan->resume_step == 16);
}

TEST_CASE("a chunk past the step to recompute: roll back to a common step") {
  // Server 1 restarted at its step-20 checkpoint; server 0 went on to 25.
  auto plan = PlanSyncRecovery(
      {Reply({25, 26}, 25, {20, 10}), Reply({20, 20}, 20, {20, 10})});
  REQUIRE(plan.ok());
  REQUIRE(plan->rollback_step == 20);
  REQUIRE(plan->resume_step == 20);
  // Its newest file was corrupt: it restored 10, the common step is 10.
  plan = PlanSyncRecovery(
      {Reply({25, 25}, 25, {20, 10}), Reply({10, 10}, 10, {10})});
  REQUIRE(plan.ok());
  REQUIRE(plan->rollback_step == 10);
  // A worker died mid-push: chunks at 16 and 15, its gradient of step 15
  // cannot be recomputed.
  plan = PlanSyncRecovery({Reply({16}, 16, {10}), Reply({15}, 15, {10})});
  REQUIRE(plan.ok());
  REQUIRE(plan->rollback_step == 10);
}

TEST_CASE("a rank --elastic dropped rejoins while the others train on") {
  // Read while rank 0 trains alone: server 0 answered at step 50, server 1
  // three steps later, neither with a checkpoint to roll back to.
  InitResponse s0 = Reply({50, 50}, 50, {}), s1 = Reply({53, 53}, 53, {});
  s0.set_caller_dropped(true);
  s1.set_caller_dropped(true);
  auto plan = PlanSyncRecovery({s0, s1});
  REQUIRE(plan.ok());
  CHECK(plan->rejoin);
  CHECK(plan->rollback_step == -1);
  CHECK(plan->resume_step == 50);
  // Server 1 has not dropped it yet and waits for its step 53.
  s1.set_caller_dropped(false);
  plan = PlanSyncRecovery({s0, s1});
  REQUIRE(plan.ok());
  CHECK(plan->rejoin);
  CHECK(plan->resume_step == 53);
  // Without the drop the same state is an error (see the last case).
  s0.set_caller_dropped(false);
  CHECK(!PlanSyncRecovery({s0, s1}).ok());
}

TEST_CASE("no checkpoint, chunks one step apart: resume inexactly") {
  auto plan = PlanSyncRecovery({Reply({5}, 5, {}), Reply({4}, 4, {})});
  REQUIRE(plan.ok());
  REQUIRE(!plan->exact);
  REQUIRE(plan->rollback_step == -1);
  REQUIRE(plan->resume_step == 4);
}

TEST_CASE("no common checkpoint step: an error naming the servers' state") {
  auto plan = PlanSyncRecovery({Reply({25}, 25, {20}), Reply({10}, 10, {10})});
  REQUIRE(absl::IsFailedPrecondition(plan.status()));
  REQUIRE(plan.status().message().find("server 1 at versions 10..10") !=
          std::string::npos);
}

}  // namespace
}  // namespace pserve
