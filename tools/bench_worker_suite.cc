// Placeholder replaced by the worker benchmark suite.
#include <cstdio>

#include "tools/ps_bench_suites.h"

namespace pserve {

int RunWorkerSuite() {
  std::fprintf(stderr, "ps_bench: --suite=worker is being written\n");
  return 2;
}

}  // namespace pserve
