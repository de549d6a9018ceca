// The model as the parameter-server system sees it: named float tensors cut
// into chunks of at most chunk_bytes, each with a 64-bit key, assigned to
// servers by a deterministic byte-balancing partitioner, and initialised
// deterministically per element. Immutable after Build: thread-safe to share.
#ifndef PSERVE_COMMON_MODEL_LAYOUT_H_
#define PSERVE_COMMON_MODEL_LAYOUT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "proto/ps.pb.h"

namespace pserve {

// A contiguous piece of one tensor. key = (tensor index << 32) | chunk index.
struct ChunkInfo {
  uint64_t key = 0;
  int tensor = 0;           // index into the tensor list
  int64_t offset = 0;       // first element within the tensor
  int64_t numel = 0;        // elements in this chunk
  int server = 0;           // owning server in [0, num_servers)
  int64_t flat_offset = 0;  // first element in the flat, tensor-ordered buffer
};

class ModelLayout {
 public:
  // Cuts `tensors` into chunks and assigns them to servers: largest chunks
  // first, each to the least-loaded server (ties: lowest id), so every
  // process computes the same map. INVALID_ARGUMENT on an empty list, a bad
  // shape, a duplicate name, chunk_bytes < 4 or num_servers < 1.
  static absl::StatusOr<ModelLayout> Build(
      const std::vector<TensorSpec>& tensors, int64_t chunk_bytes,
      int num_servers);

  const std::vector<TensorSpec>& tensors() const { return tensors_; }
  const std::vector<ChunkInfo>& chunks() const { return chunks_; }
  int num_servers() const { return num_servers_; }
  int64_t chunk_bytes() const { return chunk_bytes_; }
  int64_t total_params() const { return total_params_; }
  int64_t tensor_numel(int t) const { return tensor_numel_[t]; }
  int64_t tensor_offset(int t) const { return tensor_offset_[t]; }
  // Index of the chunk with this key, or -1.
  int FindChunk(uint64_t key) const;
  // Chunk indices owned by `server`, in key order.
  std::vector<int> ChunksOfServer(int server) const;
  // Chunk indices of the given tensors (all chunks of each), in order.
  std::vector<int> ChunksOfTensors(const std::vector<int>& tensors) const;
  // Total bytes of fp32 parameters per server.
  std::vector<int64_t> BytesPerServer() const;

 private:
  std::vector<TensorSpec> tensors_;
  std::vector<int64_t> tensor_numel_, tensor_offset_;
  std::vector<ChunkInfo> chunks_;
  absl::flat_hash_map<uint64_t, int> key_to_chunk_;
  int num_servers_ = 0;
  int64_t chunk_bytes_ = 0;
  int64_t total_params_ = 0;
};

inline uint64_t ChunkKey(int tensor, int chunk) {
  return (static_cast<uint64_t>(tensor) << 32) | static_cast<uint32_t>(chunk);
}

// The initial value of element `index` of tensor `name`: a function of
// (seed, name, index) alone, so the model is the same for any number of
// servers or chunk size.
float InitValue(uint64_t seed, const std::string& name, int64_t index,
                const InitRule& rule);

// Fills out (n) with elements [first, first + n) of tensor `name`.
void FillInit(uint64_t seed, const std::string& name, int64_t first, int64_t n,
              const InitRule& rule, float* out);

// A stable 64-bit fingerprint of a model declaration (tensors, seed, chunk
// size, server and worker counts, mode); the caller field is ignored.
uint64_t DeclarationHash(const InitRequest& request);

// Empty if the two declarations are the same model; otherwise one line
// naming the first difference, e.g. "tensor 3 'qkvw' shape [2,96,32] vs
// [2,192,64]".
std::string DescribeDeclarationDifference(const InitRequest& accepted,
                                          const InitRequest& offered);

}  // namespace pserve

#endif  // PSERVE_COMMON_MODEL_LAYOUT_H_
