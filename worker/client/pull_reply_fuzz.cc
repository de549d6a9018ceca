// Fuzz target: the client's decoding of pull replies (DecodePullResponse)
// over gRPC slices. An input is a dtype byte, a slice-cut byte, then the
// reply's bytes, decoded against two expected chunks (3 and 5 elements).
// Any bytes must decode or give a Status, writing only inside the caller's
// buffer. Thread-safety: one input at a time (libFuzzer).
#include <cstdint>
#include <string>
#include <vector>

#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/slice.h"
#include "third_party/fuzz_support.h"
#include "worker/client/wire_codec.h"

namespace pserve {
namespace {

const std::vector<ChunkRef>& Expected() {
  static const std::vector<ChunkRef> chunks = {{11, 3, 0}, {12, 5, 3}};
  return chunks;
}

}  // namespace

std::vector<std::string> FuzzSeeds() {
  std::vector<std::string> seeds;
  for (DType dtype : {FP32, BF16, FP16}) {
    PullResponse reply;
    for (const ChunkRef& c : Expected()) {
      ChunkData* d = reply.add_chunks();
      d->set_key(c.key);
      d->set_version(4);
      d->set_data(std::string(c.numel * (dtype == FP32 ? 4 : 2), '\x3f'));
    }
    std::string seed = {static_cast<char>(dtype), 17};
    seeds.push_back(seed + reply.SerializeAsString());
  }
  return seeds;
}

}  // namespace pserve

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pserve;
  if (size < 2) return 0;
  const auto dtype = static_cast<DType>(data[0] % 3);
  const size_t body = size - 2, cut = std::min<size_t>(data[1], body);
  const char* bytes = reinterpret_cast<const char*>(data + 2);
  // Two slices, so payloads straddle a slice boundary.
  grpc::Slice parts[2] = {grpc::Slice(bytes, cut),
                          grpc::Slice(bytes + cut, body - cut)};
  grpc::ByteBuffer buffer(parts, 2);
  std::vector<float> flat(8);  // (3 + 5) elements of the two chunks
  GlobalLossReport loss;
  uint64_t incarnation = 0;
  (void)DecodePullResponse(buffer, Expected(), dtype, flat.data(), &loss,
                           &incarnation);
  return 0;
}
