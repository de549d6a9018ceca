// The hand-written wire codec against protobuf's generated code, including
// payloads split across many slices and malformed replies.
#include "worker/client/wire_codec.h"

#include <catch2/catch.hpp>
#include <cstring>

#include "grpcpp/support/slice.h"

namespace pserve {
namespace {

std::string Flatten(const grpc::ByteBuffer& bb) {
  std::vector<grpc::Slice> slices;
  REQUIRE(bb.Dump(&slices).ok());
  std::string out;
  for (const auto& s : slices)
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

// Splits bytes into slices of `piece` bytes, as a network read might.
grpc::ByteBuffer Split(const std::string& bytes, size_t piece) {
  std::vector<grpc::Slice> slices;
  for (size_t i = 0; i < bytes.size(); i += piece)
    slices.emplace_back(bytes.data() + i, std::min(piece, bytes.size() - i));
  return grpc::ByteBuffer(slices.data(), slices.size());
}

TEST_CASE("EncodePushRequest parses as the generated PushRequest") {
  std::vector<float> flat(100);
  for (int i = 0; i < 100; ++i) flat[i] = 0.5f * i - 7;
  std::vector<ChunkRef> chunks = {{11, 30, 0}, {(7ULL << 32) | 3, 70, 30}};
  Caller caller;
  caller.set_role(Caller::WORKER);
  caller.set_rank(3);
  for (DType dtype : {FP32, BF16}) {
    PushRequest req;
    REQUIRE(req.ParseFromString(Flatten(EncodePushRequest(
        caller, PushTag{1234567, 4096, 2.75}, dtype, chunks, flat.data()))));
    REQUIRE(req.caller().rank() == 3);
    REQUIRE(req.example_count() == 4096);
    REQUIRE(req.loss() == 2.75);
    REQUIRE(req.caller().role() == Caller::WORKER);
    REQUIRE(req.step() == 1234567);
    REQUIRE(req.dtype() == dtype);
    REQUIRE(req.chunks_size() == 2);
    REQUIRE(req.chunks(1).key() == ((7ULL << 32) | 3));
    const size_t elem = dtype == FP32 ? 4 : 2;
    REQUIRE(req.chunks(1).data().size() == 70 * elem);
    if (dtype == FP32) {
      float v;
      std::memcpy(&v, req.chunks(1).data().data() + 4 * 5, 4);
      REQUIRE(v == flat[35]);
    }
  }
}

TEST_CASE("DecodePullResponse reads split slices into place") {
  PullResponse resp;
  std::vector<float> want(50);
  for (int i = 0; i < 50; ++i) want[i] = i * 1.25f;
  std::vector<ChunkRef> chunks = {{5, 20, 30}, {9, 30, 0}};
  for (const ChunkRef& c : chunks) {
    ChunkData* d = resp.add_chunks();
    d->set_key(c.key);
    d->set_version(c.key == 5 ? 7 : 4);
    d->set_data(
        std::string(reinterpret_cast<const char*>(want.data() + c.flat_offset),
                    c.numel * 4));
  }
  resp.set_global_loss(3.125);
  resp.set_global_loss_step(41);
  resp.set_incarnation(0x1234567890abcdefULL);
  std::string bytes;
  resp.SerializeToString(&bytes);
  for (size_t piece : {1, 3, 64, 100000}) {
    std::vector<float> got(50, -1);
    GlobalLossReport loss;
    uint64_t incarnation = 0;
    auto v = DecodePullResponse(Split(bytes, piece), chunks, FP32, got.data(),
                                &loss, &incarnation);
    REQUIRE(v.ok());
    REQUIRE(*v == 4);
    REQUIRE(got == want);
    REQUIRE(loss.step == 41);
    REQUIRE(loss.loss == 3.125);
    REQUIRE(incarnation == 0x1234567890abcdefULL);
  }
}

TEST_CASE("DecodePullResponse refuses malformed or unexpected replies") {
  PullResponse resp;
  ChunkData* d = resp.add_chunks();
  d->set_key(5);
  d->set_data(std::string(8, '\0'));
  std::string bytes;
  resp.SerializeToString(&bytes);
  std::vector<float> out(4);
  REQUIRE(
      !DecodePullResponse(Split(bytes, 4), {{5, 3, 0}}, FP32, out.data()).ok());
  REQUIRE(
      !DecodePullResponse(Split(bytes, 4), {{6, 2, 0}}, FP32, out.data()).ok());
  REQUIRE(!DecodePullResponse(Split(bytes, 4), {{5, 2, 0}, {6, 2, 2}}, FP32,
                              out.data())
               .ok());
  REQUIRE(
      DecodePullResponse(Split(bytes, 4), {{5, 2, 0}}, FP32, out.data()).ok());
  std::string truncated = bytes.substr(0, bytes.size() - 3);
  REQUIRE(
      !DecodePullResponse(Split(truncated, 2), {{5, 2, 0}}, FP32, out.data())
           .ok());
  std::string garbage(37, '\xff');
  REQUIRE(!DecodePullResponse(Split(garbage, 5), {{5, 2, 0}}, FP32, out.data())
               .ok());
}

}  // namespace
}  // namespace pserve
