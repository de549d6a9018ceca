// The main() of a fuzz target outside --config=fuzz: runs
// LLVMFuzzerTestOneInput on every file given (folders: every file in them),
// so seed corpora and crash reproducers replay under any build.
//   TARGET [--builtin_seeds] [--write_seeds=DIR] [FILE|DIR]...
// --builtin_seeds also runs the target's FuzzSeeds(); --write_seeds writes
// them to DIR as seed-N files and exits. Exit 0 when every input ran, 2 on a
// bad flag or missing path. Thread-safety: single-threaded.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "third_party/fuzz_support.h"

namespace {

namespace fs = std::filesystem;

void Run(const std::string& bytes) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()),
                         bytes.size());
}

bool RunFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  Run(std::string(std::istreambuf_iterator<char>(in), {}));
  return true;
}

int WriteSeeds(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  const std::vector<std::string> seeds = pserve::FuzzSeeds();
  for (size_t i = 0; i < seeds.size(); ++i) {
    std::ofstream out(fs::path(dir) / ("seed-" + std::to_string(i)),
                      std::ios::binary);
    out << seeds[i];
    if (!out) {
      std::fprintf(stderr, "cannot write seeds to %s\n", dir.c_str());
      return 2;
    }
  }
  std::printf("wrote %zu seeds to %s\n", seeds.size(), dir.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int ran = 0;
  for (int a = 1; a < argc; ++a) {
    const std::string arg = argv[a];
    if (arg.rfind("--write_seeds=", 0) == 0) return WriteSeeds(arg.substr(14));
    if (arg == "--builtin_seeds") {
      for (const std::string& s : pserve::FuzzSeeds()) Run(s), ++ran;
      continue;
    }
    if (arg.rfind("-", 0) == 0) {
      std::fprintf(stderr,
                   "unknown flag %s: use --builtin_seeds, "
                   "--write_seeds=DIR or input files\n",
                   arg.c_str());
      return 2;
    }
    std::error_code ec;
    if (fs::is_directory(arg, ec)) {
      for (const auto& e : fs::directory_iterator(arg))
        if (e.is_regular_file() && RunFile(e.path())) ++ran;
    } else if (RunFile(arg)) {
      ++ran;
    } else {
      std::fprintf(stderr, "cannot read %s: give fuzz inputs or folders\n",
                   arg.c_str());
      return 2;
    }
  }
  std::printf("replayed %d inputs without a crash\n", ran);
  return 0;
}
