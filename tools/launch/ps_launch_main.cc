// ps_launch: runs a parameter-server job (S servers, W workers) on this
// machine; see LaunchUsage() in launch.h or `ps_launch --help`. A bad flag
// or a missing binary exits 2 with one line. Single-threaded.
#include <cstdio>
#include <string>
#include <vector>

#include "tools/launch/launch.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  for (const std::string& a : args) {
    if (a == "--") break;
    if (a == "--help" || a == "-h") {
      std::printf("%s", pserve::LaunchUsage().c_str());
      return 0;
    }
  }
  absl::StatusOr<pserve::LaunchOptions> options =
      pserve::ParseLaunchArgs(argv[0], args);
  if (!options.ok()) {
    std::fprintf(stderr, "ps_launch: %s (ps_launch --help lists the flags)\n",
                 std::string(options.status().message()).c_str());
    return 2;
  }
  return pserve::RunJob(*options);
}
