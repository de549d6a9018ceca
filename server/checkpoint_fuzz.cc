// Fuzz target: server checkpoint files as ReadCheckpointFile and
// RestoreSnapshot read them into a declared store. Any bytes must restore or
// give a Status, and a refused file must leave the store unchanged.
// Thread-safety: one input at a time (libFuzzer).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "server/checkpoint.h"
#include "server/fuzz_util.h"
#include "third_party/fuzz_support.h"

namespace pserve {

std::vector<std::string> FuzzSeeds() {
  std::vector<std::string> seeds;
  for (ConsistencyMode mode : {MODE_SYNC, MODE_ASYNC}) {
    std::unique_ptr<ShardStore> store = FuzzStore(mode);
    std::vector<float> grad(4, 0.5f);
    for (int i = 0; i < store->num_chunks(); ++i)
      (void)store->Push(i, 0, 0, grad.data(), 1);
    const std::string path = FuzzScratchDir() + "/seed.ckpt";
    if (!WriteCheckpointFile(SnapshotOf(*store), path).ok()) continue;
    std::ifstream in(path, std::ios::binary);
    seeds.emplace_back(std::istreambuf_iterator<char>(in),
                       std::istreambuf_iterator<char>());
  }
  return seeds;
}

}  // namespace pserve

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pserve;
  const auto mode = size > 0 && data[size - 1] % 2 ? MODE_ASYNC : MODE_SYNC;
  std::unique_ptr<ShardStore> store = FuzzStore(mode);
  const std::vector<double> before = StoreDigest(*store);
  const std::string path = WriteFuzzFile(data, size);
  absl::StatusOr<ServerSnapshot> snap = ReadCheckpointFile(path);
  const absl::Status s = snap.ok()
                             ? RestoreSnapshot(*store, *std::move(snap), path)
                             : snap.status();
  const std::vector<double> after = StoreDigest(*store);
  if (!s.ok() && std::memcmp(before.data(), after.data(),
                             before.size() * sizeof(double)) != 0) {
    std::fprintf(stderr, "a refused checkpoint changed the store: %s\n",
                 s.ToString().c_str());
    std::abort();
  }
  return 0;
}
