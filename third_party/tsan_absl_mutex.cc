// ThreadSanitizer annotations for the system's absl::Mutex (--config=tsan).
// Debian's libabsl is not built with TSan, so its Mutex is invisible to the
// race detector and everything it guards would be reported as racy. This
// file, linked into every binary under --config=tsan only, interposes the
// Mutex and CondVar entry points: each calls the library's own through
// dlsym(RTLD_NEXT) wrapped in __tsan_mutex_* annotations. Waits (Await,
// CondVar::Wait) are annotated as unlock + lock around the library call,
// which runs with accesses ignored (conditions are evaluated under the lock
// by whichever thread absl picks). Thread-safety: as absl::Mutex.
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>

#include "absl/synchronization/mutex.h"

namespace {

template <typename F>
F Real(const char* symbol) {
  void* f = dlsym(RTLD_NEXT, symbol);
  if (f == nullptr) {
    std::fprintf(stderr, "tsan_absl_mutex: %s not found\n", symbol);
    std::abort();
  }
  return reinterpret_cast<F>(f);
}

// The library's own entry points call each other (WaitWithTimeout calls
// WaitWithDeadline, and so on); those inner calls reach the wrappers below
// again and must not be annotated twice.
thread_local int depth = 0;

struct Outermost {
  Outermost() : outermost(depth++ == 0) {}
  ~Outermost() { --depth; }
  const bool outermost;
};

// Declares `real` (the library's function) and returns its result directly
// when called from inside another wrapped call.
#define PSERVE_REAL(type, symbol, ...)         \
  static const auto real = Real<type>(symbol); \
  Outermost scope;                             \
  if (!scope.outermost) return real(__VA_ARGS__)

// Runs a library call that releases `mu` and reacquires it before
// returning, annotated as an unlock followed by a lock.
template <typename Call>
auto AroundWait(void* mu, unsigned flags, Call call) {
  __tsan_mutex_pre_unlock(mu, flags);
  auto result = call();
  __tsan_mutex_post_unlock(mu, flags);
  __tsan_mutex_pre_lock(mu, flags);
  __tsan_mutex_post_lock(mu, flags, 0);
  return result;
}

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

Mutex::~Mutex() {
  static const auto real = Real<void (*)(Mutex*)>("_ZN4absl7debian35MutexD2Ev");
  if (depth == 0) __tsan_mutex_destroy(this, 0);
  real(this);
}

void Mutex::Lock() {
  PSERVE_REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex4LockEv", this);
  __tsan_mutex_pre_lock(this, 0);
  real(this);
  __tsan_mutex_post_lock(this, 0, 0);
}

void Mutex::ReaderLock() {
  PSERVE_REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex10ReaderLockEv", this);
  __tsan_mutex_pre_lock(this, __tsan_mutex_read_lock);
  real(this);
  __tsan_mutex_post_lock(this, __tsan_mutex_read_lock, 0);
}

bool Mutex::TryLock() {
  PSERVE_REAL(bool (*)(Mutex*), "_ZN4absl7debian35Mutex7TryLockEv", this);
  __tsan_mutex_pre_lock(this, __tsan_mutex_try_lock);
  const bool ok = real(this);
  __tsan_mutex_post_lock(
      this, __tsan_mutex_try_lock | (ok ? 0 : __tsan_mutex_try_lock_failed), 0);
  return ok;
}

bool Mutex::ReaderTryLock() {
  PSERVE_REAL(bool (*)(Mutex*), "_ZN4absl7debian35Mutex13ReaderTryLockEv",
              this);
  const unsigned f = __tsan_mutex_read_lock | __tsan_mutex_try_lock;
  __tsan_mutex_pre_lock(this, f);
  const bool ok = real(this);
  __tsan_mutex_post_lock(this, f | (ok ? 0 : __tsan_mutex_try_lock_failed), 0);
  return ok;
}

void Mutex::Unlock() {
  PSERVE_REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex6UnlockEv", this);
  __tsan_mutex_pre_unlock(this, 0);
  real(this);
  __tsan_mutex_post_unlock(this, 0);
}

void Mutex::ReaderUnlock() {
  PSERVE_REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex12ReaderUnlockEv", this);
  __tsan_mutex_pre_unlock(this, __tsan_mutex_read_lock);
  real(this);
  __tsan_mutex_post_unlock(this, __tsan_mutex_read_lock);
}

void Mutex::LockWhen(const Condition& cond) {
  PSERVE_REAL(void (*)(Mutex*, const Condition&),
              "_ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE", this, cond);
  __tsan_mutex_pre_lock(this, 0);
  real(this, cond);
  __tsan_mutex_post_lock(this, 0, 0);
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  PSERVE_REAL(void (*)(Mutex*, const Condition&),
              "_ZN4absl7debian35Mutex14ReaderLockWhenERKNS0_9ConditionE", this,
              cond);
  __tsan_mutex_pre_lock(this, __tsan_mutex_read_lock);
  real(this, cond);
  __tsan_mutex_post_lock(this, __tsan_mutex_read_lock, 0);
}

// The timed LockWhen variants (Notification::WaitForNotificationWithTimeout
// uses one) hold the lock on return whether or not the condition became
// true, so they are plain locks to TSan.
bool Mutex::LockWhenWithTimeout(const Condition& cond, absl::Duration timeout) {
  PSERVE_REAL(
      bool (*)(Mutex*, const Condition&, absl::Duration),
      "_ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_"
      "8DurationE",
      this, cond, timeout);
  __tsan_mutex_pre_lock(this, 0);
  const bool met = real(this, cond, timeout);
  __tsan_mutex_post_lock(this, 0, 0);
  return met;
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, absl::Time deadline) {
  PSERVE_REAL(
      bool (*)(Mutex*, const Condition&, absl::Time),
      "_ZN4absl7debian35Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_"
      "4TimeE",
      this, cond, deadline);
  __tsan_mutex_pre_lock(this, 0);
  const bool met = real(this, cond, deadline);
  __tsan_mutex_post_lock(this, 0, 0);
  return met;
}

bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond,
                                      absl::Duration timeout) {
  PSERVE_REAL(bool (*)(Mutex*, const Condition&, absl::Duration),
              "_ZN4absl7debian35Mutex25ReaderLockWhenWithTimeoutERKNS0_"
              "9ConditionENS0_8DurationE",
              this, cond, timeout);
  __tsan_mutex_pre_lock(this, __tsan_mutex_read_lock);
  const bool met = real(this, cond, timeout);
  __tsan_mutex_post_lock(this, __tsan_mutex_read_lock, 0);
  return met;
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond,
                                       absl::Time deadline) {
  PSERVE_REAL(bool (*)(Mutex*, const Condition&, absl::Time),
              "_ZN4absl7debian35Mutex26ReaderLockWhenWithDeadlineERKNS0_"
              "9ConditionENS0_4TimeE",
              this, cond, deadline);
  __tsan_mutex_pre_lock(this, __tsan_mutex_read_lock);
  const bool met = real(this, cond, deadline);
  __tsan_mutex_post_lock(this, __tsan_mutex_read_lock, 0);
  return met;
}

void Mutex::Await(const Condition& cond) {
  PSERVE_REAL(void (*)(Mutex*, const Condition&),
              "_ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE", this, cond);
  AroundWait(this, 0, [&] { return (real(this, cond), 0); });
}

bool Mutex::AwaitWithDeadline(const Condition& cond, absl::Time deadline) {
  PSERVE_REAL(bool (*)(Mutex*, const Condition&, absl::Time),
              "_ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_"
              "4TimeE",
              this, cond, deadline);
  return AroundWait(this, 0, [&] { return real(this, cond, deadline); });
}

bool Mutex::AwaitWithTimeout(const Condition& cond, absl::Duration timeout) {
  PSERVE_REAL(bool (*)(Mutex*, const Condition&, absl::Duration),
              "_ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_"
              "8DurationE",
              this, cond, timeout);
  return AroundWait(this, 0, [&] { return real(this, cond, timeout); });
}

void CondVar::Wait(Mutex* mu) {
  PSERVE_REAL(void (*)(CondVar*, Mutex*),
              "_ZN4absl7debian37CondVar4WaitEPNS0_5MutexE", this, mu);
  AroundWait(mu, 0, [&] { return (real(this, mu), 0); });
}

bool CondVar::WaitWithDeadline(Mutex* mu, absl::Time deadline) {
  PSERVE_REAL(bool (*)(CondVar*, Mutex*, absl::Time),
              "_ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_"
              "4TimeE",
              this, mu, deadline);
  return AroundWait(mu, 0, [&] { return real(this, mu, deadline); });
}

bool CondVar::WaitWithTimeout(Mutex* mu, absl::Duration timeout) {
  PSERVE_REAL(bool (*)(CondVar*, Mutex*, absl::Duration),
              "_ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_"
              "8DurationE",
              this, mu, timeout);
  return AroundWait(mu, 0, [&] { return real(this, mu, timeout); });
}

ABSL_NAMESPACE_END
}  // namespace absl
