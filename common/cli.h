// Command-line setup shared by pserve binaries: usage text, --help showing
// the flags of the binary's own folders, and parsing. Call once from main().
#ifndef PSERVE_COMMON_CLI_H_
#define PSERVE_COMMON_CLI_H_

#include <string>
#include <vector>

namespace pserve {

// Sets the usage message, makes --help list flags defined in files under
// any of `flag_dirs` (e.g. {"server/", "common/"}), and parses argv.
// Positional arguments are refused: exits 2 with one line naming them.
void InitCommandLine(int argc, char** argv, const std::string& usage,
                     const std::vector<std::string>& flag_dirs);

}  // namespace pserve

#endif  // PSERVE_COMMON_CLI_H_
