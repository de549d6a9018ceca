// RetryPolicy and Retrier: which codes are retried, the backoff sequence,
// the attempt limit and the deadline, and RunWithRetry's loop. Single
// thread; short real-time waits only.
#include "worker/client/retry.h"

#include <catch2/catch.hpp>

namespace pserve {
namespace {

RetryPolicy Fast() {
  RetryPolicy p;
  p.initial_backoff = absl::Milliseconds(1);
  p.max_backoff = absl::Milliseconds(4);
  p.deadline = absl::Seconds(30);
  return p;
}

TEST_CASE("only the policy's codes are retried") {
  RetryPolicy p = Fast();
  CHECK(p.IsRetryable(absl::UnavailableError("down")));
  CHECK_FALSE(p.IsRetryable(absl::InvalidArgumentError("bad")));
  CHECK_FALSE(p.IsRetryable(absl::DeadlineExceededError("slow")));
  CHECK_FALSE(p.IsRetryable(absl::OkStatus()));
  p.retryable.push_back(absl::StatusCode::kDeadlineExceeded);
  CHECK(p.IsRetryable(absl::DeadlineExceededError("slow")));
  Retrier r(&p, "h:1", 0, "test");
  CHECK_FALSE(r.Next(absl::InvalidArgumentError("bad")).has_value());
}

TEST_CASE("backoff grows by the multiplier up to its cap") {
  RetryPolicy p;
  p.initial_backoff = absl::Milliseconds(100);
  p.max_backoff = absl::Seconds(5);
  CHECK(p.Backoff(0) == absl::Milliseconds(100));
  CHECK(p.Backoff(1) == absl::Milliseconds(200));
  CHECK(p.Backoff(3) == absl::Milliseconds(800));
  CHECK(p.Backoff(6) == absl::Seconds(5));
  CHECK(p.Backoff(1000) == absl::Seconds(5));
  Retrier r(&p, "h:1", 0, "test");
  CHECK(r.Next(absl::UnavailableError("x")) == absl::Milliseconds(100));
  CHECK(r.Next(absl::UnavailableError("x")) == absl::Milliseconds(200));
}

TEST_CASE("max_attempts bounds the attempts, the first one included") {
  RetryPolicy p = Fast();
  p.max_attempts = 3;
  int calls = 0;
  Retrier r(&p, "h:1", 0, "test");
  absl::Status s = RunWithRetry(r, [&] {
    ++calls;
    return absl::UnavailableError("down");
  });
  CHECK(absl::IsUnavailable(s));
  CHECK(calls == 3);
  CHECK(r.attempts() == 3);
}

TEST_CASE("a call that recovers returns OK after its failures") {
  RetryPolicy p = Fast();
  int calls = 0;
  Retrier r(&p, "h:1", 0, "test");
  absl::Status s = RunWithRetry(r, [&] {
    return ++calls < 4 ? absl::UnavailableError("down") : absl::OkStatus();
  });
  CHECK(s.ok());
  CHECK(calls == 4);
}

TEST_CASE("a status the policy does not retry is returned at once") {
  RetryPolicy p = Fast();
  int calls = 0;
  Retrier r(&p, "h:1", 0, "test");
  absl::Status s = RunWithRetry(r, [&] {
    ++calls;
    return absl::FailedPreconditionError("other model");
  });
  CHECK(absl::IsFailedPrecondition(s));
  CHECK(calls == 1);
}

TEST_CASE("the deadline, counted from the first failure, ends the retries") {
  RetryPolicy p = Fast();
  p.deadline = absl::Milliseconds(60);
  int calls = 0;
  Retrier r(&p, "h:1", 0, "test");
  const absl::Time start = absl::Now();
  absl::Status s = RunWithRetry(r, [&] {
    ++calls;
    return absl::UnavailableError("down");
  });
  const absl::Duration took = absl::Now() - start;
  CHECK(absl::IsUnavailable(s));
  CHECK(calls > 2);
  CHECK(took >= absl::Milliseconds(55));
  CHECK(took < absl::Seconds(10));
}

}  // namespace
}  // namespace pserve
