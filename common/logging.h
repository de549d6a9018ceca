// Process-wide logging setup: spdlog to stderr with the role and id of the
// process in every line. Call once from main() before starting threads;
// spdlog's default logger is thread-safe afterwards.
#ifndef PSERVE_COMMON_LOGGING_H_
#define PSERVE_COMMON_LOGGING_H_

#include <string>

#include "absl/status/status.h"

namespace pserve {

// role: "server" or "worker"; level: trace|debug|info|warn|error|off.
// INVALID_ARGUMENT (naming the valid levels) for an unknown level.
absl::Status SetupLogging(const std::string& role, int id,
                          const std::string& level);

// Keeps freed large buffers in the heap instead of returning them to the
// kernel, so per-message buffers reuse warm pages (first touch of fresh
// pages is 50-100x slower than reuse on the build machines): one malloc
// arena (thread arenas unmap their heaps when they empty), large buffers
// from the heap rather than mmap, and no trimming. Call before threads.
void KeepLargeAllocationsWarm();

// Re-executes this binary once with GLIBC_TUNABLES=glibc.malloc.hugetlb=1
// (transparent huge pages for malloc's heap: measured 1.2-1.4x on
// push+pull throughput) unless it is already set or PSERVE_NO_REEXEC is.
// Call first thing in main(), before any thread or file is opened; returns
// (doing nothing) if the exec fails.
void ReexecWithHugePageMalloc(char** argv);

}  // namespace pserve

#endif  // PSERVE_COMMON_LOGGING_H_
