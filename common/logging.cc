// spdlog setup and malloc tuning shared by every pserve binary.
// Not thread-safe: called once from main().
#include "common/logging.h"

#include <malloc.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace pserve {

absl::Status SetupLogging(const std::string& role, int id,
                          const std::string& level) {
  spdlog::level::level_enum lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--log_level=", level,
        " is not a level: use trace, debug, info, warn, error or off"));
  }
  spdlog::set_level(lvl);
  spdlog::set_pattern(
      absl::StrCat("%Y-%m-%d %H:%M:%S.%e [", role, " ", id, "] [%l] %v"));
  return absl::OkStatus();
}

void KeepLargeAllocationsWarm() {
  // 32 MiB is glibc's largest allowed threshold on 64-bit; larger values
  // are refused and would leave the default (mmap per 4 MiB chunk).
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 64 << 20);
  mallopt(M_ARENA_MAX, 1);
}

void ReexecWithHugePageMalloc(char** argv) {
  if (std::getenv("PSERVE_NO_REEXEC") != nullptr) return;
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  std::string value = tunables != nullptr ? tunables : "";
  if (value.find("glibc.malloc.hugetlb") != std::string::npos) return;
  value += value.empty() ? "" : ":";
  value += "glibc.malloc.hugetlb=1";
  setenv("GLIBC_TUNABLES", value.c_str(), 1);
  setenv("PSERVE_NO_REEXEC", "1", 1);  // never loop, even if ignored
  execv("/proc/self/exe", argv);
  unsetenv("PSERVE_NO_REEXEC");  // exec failed: carry on as we are
}

}  // namespace pserve
