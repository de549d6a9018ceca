// Helpers shared by the fuzz targets (see third_party/fuzz.bzl): the seed
// list every target defines, and a scratch file for loaders that take a
// path. Thread-safety: a fuzz target runs inputs one at a time; the scratch
// file is per process and must not be used from two threads.
#ifndef PSERVE_THIRD_PARTY_FUZZ_SUPPORT_H_
#define PSERVE_THIRD_PARTY_FUZZ_SUPPORT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace pserve {

// Defined by each fuzz target: valid inputs that reach deep into the code
// under test. The replay binary writes them with --write_seeds=DIR and the
// corpus test runs them.
std::vector<std::string> FuzzSeeds();

// A folder private to this process ($TEST_TMPDIR, $TMPDIR or /tmp, plus a
// per-process name), created on first use. Aborts if it cannot be made: a
// fuzz harness has no caller to report to.
const std::string& FuzzScratchDir();

// Writes data[0, size) to one scratch file of this process, replacing what
// the previous call wrote, and returns its path.
std::string WriteFuzzFile(const uint8_t* data, size_t size);

}  // namespace pserve

#endif  // PSERVE_THIRD_PARTY_FUZZ_SUPPORT_H_
