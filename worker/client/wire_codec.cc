// Protobuf wire format, by hand, for PushRequest and PullResponse.
// Field numbers follow proto/ps.proto; a test checks both directions
// against the generated protobuf code.
#include "worker/client/wire_codec.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/wire_dtype.h"
#include "grpcpp/support/slice.h"

namespace pserve {
namespace {

constexpr int kVarint = 0, kFixed64 = 1, kLengthDelimited = 2;

uint32_t Tag(int field, int wire_type) { return (field << 3) | wire_type; }

size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) v >>= 7, ++n;
  return n;
}

char* PutVarint(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

char* PutFixed64(char* p, uint64_t v) {
  std::memcpy(p, &v, 8);  // little-endian hosts only (x86-64, aarch64)
  return p + 8;
}

std::string EncodeCaller(const Caller& caller) {
  std::string out;
  caller.SerializeToString(&out);
  return out;
}

size_t ChunkBodySize(uint64_t data_bytes) {
  return 1 + 8 + 1 + VarintSize(data_bytes) + data_bytes;
}

}  // namespace

grpc::ByteBuffer EncodePushRequest(const Caller& caller, const PushTag& tag,
                                   DType dtype,
                                   const std::vector<ChunkRef>& chunks,
                                   const float* flat) {
  const std::string caller_bytes = EncodeCaller(caller);
  const size_t elem = WireBytesPerElement(dtype);
  size_t total = 1 + VarintSize(caller_bytes.size()) + caller_bytes.size();
  const uint64_t step = static_cast<uint64_t>(tag.step);
  const uint64_t examples = static_cast<uint64_t>(tag.example_count);
  total += 1 + VarintSize(step);
  total += (1 + VarintSize(examples)) + (1 + 8);  // example_count, loss
  for (const ChunkRef& c : chunks) {
    const size_t body = ChunkBodySize(c.numel * elem);
    total += 1 + VarintSize(body) + body;
  }
  if (dtype != FP32) total += 1 + VarintSize(dtype);
  grpc_slice raw = grpc_slice_malloc(total);
  char* p = reinterpret_cast<char*>(GRPC_SLICE_START_PTR(raw));
  p = PutVarint(p, Tag(1, kLengthDelimited));
  p = PutVarint(p, caller_bytes.size());
  std::memcpy(p, caller_bytes.data(), caller_bytes.size());
  p += caller_bytes.size();
  p = PutVarint(p, Tag(2, kVarint));
  p = PutVarint(p, step);
  for (const ChunkRef& c : chunks) {
    const size_t bytes = c.numel * elem;
    p = PutVarint(p, Tag(3, kLengthDelimited));
    p = PutVarint(p, ChunkBodySize(bytes));
    p = PutVarint(p, Tag(1, kFixed64));
    p = PutFixed64(p, c.key);
    p = PutVarint(p, Tag(3, kLengthDelimited));
    p = PutVarint(p, bytes);
    EncodeFloats(flat + c.flat_offset, c.numel, dtype, p);
    p += bytes;
  }
  if (dtype != FP32) {
    p = PutVarint(p, Tag(4, kVarint));
    p = PutVarint(p, dtype);
  }
  p = PutVarint(p, Tag(5, kVarint));
  p = PutVarint(p, examples);
  uint64_t loss_bits;
  std::memcpy(&loss_bits, &tag.loss, 8);
  p = PutVarint(p, Tag(6, kFixed64));
  p = PutFixed64(p, loss_bits);
  grpc::Slice slice(raw, grpc::Slice::STEAL_REF);
  return grpc::ByteBuffer(&slice, 1);
}

}  // namespace pserve
