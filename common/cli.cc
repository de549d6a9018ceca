// Command-line setup. Not thread-safe: called once from main().
#include "common/cli.h"

#include <cstdio>
#include <cstdlib>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"

namespace pserve {
namespace {

std::vector<std::string>* FlagDirs() {
  static auto* dirs = new std::vector<std::string>();
  return dirs;
}

bool IsOwnFlagFile(absl::string_view file) {
  for (const std::string& d : *FlagDirs())
    if (absl::StrContains(file, d)) return true;
  return false;
}

}  // namespace

void InitCommandLine(int argc, char** argv, const std::string& usage,
                     const std::vector<std::string>& flag_dirs) {
  *FlagDirs() = flag_dirs;
  absl::FlagsUsageConfig config;
  config.contains_help_flags = &IsOwnFlagFile;
  config.contains_helpshort_flags = &IsOwnFlagFile;
  absl::SetFlagsUsageConfig(config);
  absl::SetProgramUsageMessage(usage);
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) {
    std::fprintf(stderr,
                 "%s: unexpected argument '%s': every option is a --flag=value "
                 "(see --help)\n",
                 argv[0], rest[1]);
    std::exit(2);
  }
}

}  // namespace pserve
