// Scratch folder and file for the fuzz targets. Thread-safety: see the
// header; the folder is created once (a function-local static) and removed
// at exit.
#include "third_party/fuzz_support.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace pserve {

const std::string& FuzzScratchDir() {
  // Never destroyed, so the exit handler below can still read it.
  static const std::string* const dir = [] {
    const char* base = std::getenv("TEST_TMPDIR");
    if (base == nullptr) base = std::getenv("TMPDIR");
    if (base == nullptr) base = "/tmp";
    std::string d =
        std::string(base) + "/pserve-fuzz-" + std::to_string(getpid());
    std::error_code ec;
    std::filesystem::create_directories(d, ec);
    if (ec) {
      std::fprintf(stderr, "cannot create %s: %s\n", d.c_str(),
                   ec.message().c_str());
      std::abort();
    }
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(FuzzScratchDir(), ignored);
    });
    return new std::string(std::move(d));
  }();
  return *dir;
}

std::string WriteFuzzFile(const uint8_t* data, size_t size) {
  const std::string path = FuzzScratchDir() + "/input";
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), size);
  out.close();
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    std::abort();
  }
  return path;
}

}  // namespace pserve
