// Streaming decoder of PullResponse over the slices gRPC received: chunk
// payloads are copied (or converted) straight into the caller's buffer,
// even when they straddle slice boundaries. Every length is checked
// against what remains, so malformed bytes give an error, never a crash.
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/wire_dtype.h"
#include "grpcpp/support/slice.h"
#include "worker/client/wire_codec.h"

namespace pserve {
namespace {

class SliceReader {
 public:
  explicit SliceReader(std::vector<grpc::Slice> slices)
      : slices_(std::move(slices)) {
    for (const auto& s : slices_) remaining_ += s.size();
  }
  size_t remaining() const { return remaining_; }

  bool ReadByte(uint8_t* b) { return Read(b, 1); }

  bool ReadVarint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b;
      if (!ReadByte(&b)) return false;
      *v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  }

  // Copies n bytes to out (may be null to skip).
  bool Read(void* out, size_t n) {
    if (n > remaining_) return false;
    char* dst = static_cast<char*>(out);
    while (n > 0) {
      const grpc::Slice& s = slices_[index_];
      const size_t take = std::min(n, s.size() - offset_);
      if (dst != nullptr) {
        std::memcpy(dst, s.begin() + offset_, take);
        dst += take;
      }
      offset_ += take;
      n -= take;
      remaining_ -= take;
      if (offset_ == s.size()) ++index_, offset_ = 0;
    }
    return true;
  }

 private:
  std::vector<grpc::Slice> slices_;
  size_t index_ = 0, offset_ = 0, remaining_ = 0;
};

absl::Status Malformed(const std::string& what) {
  return absl::InternalError(absl::StrCat("malformed pull reply: ", what));
}

// Reads one ChunkData body of `len` bytes into its place in flat.
absl::Status ReadChunk(SliceReader& r, size_t len, const ChunkRef& want,
                       DType dtype, float* flat, int64_t* version) {
  const size_t end = r.remaining() - len;
  uint64_t key = 0;
  bool have_data = false;
  std::vector<char> tmp;
  while (r.remaining() > end) {
    uint64_t tag;
    if (!r.ReadVarint(&tag)) return Malformed("bad tag");
    if (tag == ((1 << 3) | 1)) {
      if (!r.Read(&key, 8)) return Malformed("short key");
    } else if (tag == ((2 << 3) | 0)) {
      uint64_t v;
      if (!r.ReadVarint(&v)) return Malformed("bad version");
      *version = static_cast<int64_t>(v);
    } else if (tag == ((3 << 3) | 2)) {
      uint64_t n;
      const size_t elem = WireBytesPerElement(dtype);
      if (!r.ReadVarint(&n) || n != want.numel * elem || n > r.remaining())
        return Malformed(absl::StrCat("key ", want.key, " has ", n,
                                      " bytes, expected ", want.numel * elem));
      float* dst = flat + want.flat_offset;
      if (dtype == FP32) {
        if (!r.Read(dst, n)) return Malformed("short data");
      } else {
        tmp.resize(n);
        if (!r.Read(tmp.data(), n)) return Malformed("short data");
        DecodeFloats(tmp.data(), want.numel, dtype, dst);
      }
      have_data = true;
    } else {
      return Malformed(absl::StrCat("unexpected tag ", tag));
    }
  }
  if (r.remaining() != end) return Malformed("chunk overruns its length");
  if (key != want.key || !have_data)
    return Malformed(absl::StrCat("got key ", key, ", expected ", want.key));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int64_t> DecodePullResponse(
    const grpc::ByteBuffer& buffer, const std::vector<ChunkRef>& expected,
    DType dtype, float* flat, GlobalLossReport* loss, uint64_t* incarnation) {
  GlobalLossReport seen;
  seen.step = 0;  // the proto3 default when the field is absent
  uint64_t seen_incarnation = 0;
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) return Malformed("cannot read buffer");
  SliceReader r(std::move(slices));
  int64_t min_version = INT64_MAX;
  size_t next = 0;
  while (r.remaining() > 0) {
    uint64_t tag, len;
    if (!r.ReadVarint(&tag)) return Malformed("bad tag");
    if (tag == ((4 << 3) | 1)) {  // incarnation
      if (!r.Read(&seen_incarnation, 8)) return Malformed("short incarnation");
      continue;
    }
    if (tag == ((2 << 3) | 1)) {  // global_loss
      if (!r.Read(&seen.loss, 8)) return Malformed("short global_loss");
      continue;
    }
    if (tag == ((3 << 3) | 0)) {  // global_loss_step
      uint64_t v;
      if (!r.ReadVarint(&v)) return Malformed("bad global_loss_step");
      seen.step = static_cast<int64_t>(v);
      continue;
    }
    if (tag != ((1 << 3) | 2) || !r.ReadVarint(&len) || len > r.remaining())
      return Malformed("bad chunk header");
    if (next >= expected.size()) return Malformed("more chunks than asked");
    int64_t version = 0;
    absl::Status s = ReadChunk(r, len, expected[next++], dtype, flat, &version);
    if (!s.ok()) return s;
    min_version = std::min(min_version, version);
  }
  if (next != expected.size()) return Malformed("fewer chunks than asked");
  if (loss != nullptr) *loss = seen;
  if (incarnation != nullptr) *incarnation = seen_incarnation;
  return min_version == INT64_MAX ? 0 : min_version;
}

}  // namespace pserve
