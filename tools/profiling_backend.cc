// ProfilingBackend's report (see profiling_backend.h).
// Thread-safety: as documented in the header.
#include "tools/profiling_backend.h"

#include <algorithm>
#include <cstdio>
#include <utility>
#include <vector>

namespace pserve {

void ProfilingBackend::Print(int steps) const {
  std::vector<std::pair<double, std::string>> sorted;
  double sum = 0;
  for (const auto& [name, s] : totals_) {
    sorted.push_back({s, name});
    sum += s;
  }
  std::sort(sorted.rbegin(), sorted.rend());
  for (const auto& [s, name] : sorted) {
    std::printf("  %-28s %9.2f ms\n", name.c_str(), 1e3 * s / steps);
  }
  std::printf("  %-28s %9.2f ms\n", "(all ops)", 1e3 * sum / steps);
}

}  // namespace pserve
