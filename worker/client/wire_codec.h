// Hand-written protobuf wire encoding for the two large messages of the data
// plane, so tensor bytes are copied once between the caller's buffer and
// gRPC's slices: PushRequest is built straight into one slice, PullResponse
// is decoded straight from the received slices into the caller's buffer.
// The encoding is the standard one for proto/ps.proto, so servers see
// ordinary messages. Stateless functions: thread-safe.
#ifndef PSERVE_WORKER_CLIENT_WIRE_CODEC_H_
#define PSERVE_WORKER_CLIENT_WIRE_CODEC_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/support/byte_buffer.h"
#include "proto/ps.pb.h"

namespace pserve {

// One chunk of a flat tensor buffer.
struct ChunkRef {
  uint64_t key = 0;
  int64_t numel = 0;
  int64_t flat_offset = 0;  // first element in the flat buffer
};

// What a push says about its gradient besides the values.
struct PushTag {
  int64_t step = 0;           // the step the gradient was computed at
  int64_t example_count = 0;  // examples it is the mean over; must be > 0
  double loss = 0;            // mean training loss over those examples
};

// The job's training loss a pull reply carries (see PullResponse).
struct GlobalLossReport {
  int64_t step = -1;  // -1: none yet
  double loss = 0;
};

// Encodes PushRequest{caller, step, chunks{key, data}, dtype,
// example_count, loss} with each chunk's data taken from flat +
// flat_offset. One allocation, one copy (or one conversion for bf16/fp16).
grpc::ByteBuffer EncodePushRequest(const Caller& caller, const PushTag& tag,
                                   DType dtype,
                                   const std::vector<ChunkRef>& chunks,
                                   const float* flat);

// Decodes a PullResponse that must hold exactly `expected`, in order,
// writing each chunk's values to flat + flat_offset, the global loss to
// *loss and the server's incarnation to *incarnation (each may be null; 0
// if absent). Returns the smallest version seen. INTERNAL with the reason
// for a malformed or unexpected reply (never crashes on bad bytes).
absl::StatusOr<int64_t> DecodePullResponse(
    const grpc::ByteBuffer& buffer, const std::vector<ChunkRef>& expected,
    DType dtype, float* flat, GlobalLossReport* loss = nullptr,
    uint64_t* incarnation = nullptr);

}  // namespace pserve

#endif  // PSERVE_WORKER_CLIENT_WIRE_CODEC_H_
