// Chunking, partitioning and deterministic initialisation of a model.
// Pure functions and an immutable class: thread-safe.
#include "common/model_layout.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/consistency_mode.h"

namespace pserve {
namespace {

// Bounds that keep a malformed declaration from exhausting memory.
constexpr int64_t kMaxModelParams = int64_t{1} << 40;
constexpr int64_t kMaxChunks = int64_t{1} << 22;

absl::StatusOr<int64_t> Numel(const TensorSpec& t) {
  if (t.shape_size() == 0)
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", t.name(), "' has no shape"));
  int64_t n = 1;
  for (int64_t d : t.shape()) {
    if (d <= 0)
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor '", t.name(), "' has a non-positive dimension ", d));
    if (n > kMaxModelParams / d)
      return absl::InvalidArgumentError(
          absl::StrCat("tensor '", t.name(), "' has more than ",
                       kMaxModelParams, " elements"));
    n *= d;
  }
  return n;
}

// Longest-processing-time greedy: deterministic and within one chunk of
// perfect balance.
void AssignServers(std::vector<ChunkInfo>& chunks, int num_servers) {
  std::vector<int> order(chunks.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return chunks[a].numel > chunks[b].numel;
  });
  std::vector<int64_t> load(num_servers, 0);
  for (int c : order) {
    int best = static_cast<int>(std::min_element(load.begin(), load.end()) -
                                load.begin());
    chunks[c].server = best;
    load[best] += chunks[c].numel;
  }
}

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t Fnv1a(const std::string& s, uint64_t h = 1469598103934665603ULL) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

std::string ShapeString(const TensorSpec& t) {
  return absl::StrCat("[", absl::StrJoin(t.shape(), ","), "]");
}

std::string InitString(const InitRule& r) {
  switch (r.kind()) {
    case InitRule::ZEROS:
      return "zeros";
    case InitRule::ONES:
      return "ones";
    case InitRule::UNIFORM:
      return absl::StrCat("uniform(bound=", r.bound(), ")");
    default:
      return absl::StrCat("normal(std=", r.std(), ")");
  }
}

}  // namespace

absl::StatusOr<ModelLayout> ModelLayout::Build(
    const std::vector<TensorSpec>& tensors, int64_t chunk_bytes,
    int num_servers) {
  if (tensors.empty())
    return absl::InvalidArgumentError("the model declares no tensors");
  if (chunk_bytes < 4)
    return absl::InvalidArgumentError("chunk_bytes must be at least 4");
  if (num_servers < 1)
    return absl::InvalidArgumentError("num_servers must be at least 1");
  ModelLayout layout;
  layout.tensors_ = tensors;
  layout.num_servers_ = num_servers;
  layout.chunk_bytes_ = chunk_bytes;
  const int64_t per_chunk = chunk_bytes / 4;
  absl::flat_hash_set<std::string> names;
  for (int t = 0; t < static_cast<int>(tensors.size()); ++t) {
    if (!names.insert(tensors[t].name()).second)
      return absl::InvalidArgumentError(
          absl::StrCat("tensor name '", tensors[t].name(), "' is repeated"));
    absl::StatusOr<int64_t> numel = Numel(tensors[t]);
    if (!numel.ok()) return numel.status();
    if (layout.total_params_ + *numel > kMaxModelParams)
      return absl::InvalidArgumentError(absl::StrCat(
          "the model has more than ", kMaxModelParams, " parameters"));
    if (static_cast<int64_t>(layout.chunks_.size()) +
            (*numel + per_chunk - 1) / per_chunk >
        kMaxChunks)
      return absl::InvalidArgumentError(absl::StrCat(
          "chunk_bytes=", chunk_bytes, " cuts the model into more than ",
          kMaxChunks, " chunks; use a larger chunk size (default 4 MiB)"));
    layout.tensor_numel_.push_back(*numel);
    layout.tensor_offset_.push_back(layout.total_params_);
    for (int64_t off = 0, c = 0; off < *numel; off += per_chunk, ++c) {
      ChunkInfo ci;
      ci.key = ChunkKey(t, static_cast<int>(c));
      ci.tensor = t;
      ci.offset = off;
      ci.numel = std::min(per_chunk, *numel - off);
      ci.flat_offset = layout.total_params_ + off;
      layout.chunks_.push_back(ci);
    }
    layout.total_params_ += *numel;
  }
  AssignServers(layout.chunks_, num_servers);
  for (int i = 0; i < static_cast<int>(layout.chunks_.size()); ++i)
    layout.key_to_chunk_[layout.chunks_[i].key] = i;
  return layout;
}

int ModelLayout::FindChunk(uint64_t key) const {
  auto it = key_to_chunk_.find(key);
  return it == key_to_chunk_.end() ? -1 : it->second;
}

std::vector<int> ModelLayout::ChunksOfServer(int server) const {
  std::vector<int> out;
  for (int i = 0; i < static_cast<int>(chunks_.size()); ++i)
    if (chunks_[i].server == server) out.push_back(i);
  return out;
}

std::vector<int> ModelLayout::ChunksOfTensors(
    const std::vector<int>& tensors) const {
  std::vector<int> out;
  for (int t : tensors)
    for (int i = 0; i < static_cast<int>(chunks_.size()); ++i)
      if (chunks_[i].tensor == t) out.push_back(i);
  return out;
}

std::vector<int64_t> ModelLayout::BytesPerServer() const {
  std::vector<int64_t> bytes(num_servers_, 0);
  for (const ChunkInfo& c : chunks_) bytes[c.server] += c.numel * 4;
  return bytes;
}

float InitValue(uint64_t seed, const std::string& name, int64_t index,
                const InitRule& rule) {
  float v;
  FillInit(seed, name, index, 1, rule, &v);
  return v;
}

void FillInit(uint64_t seed, const std::string& name, int64_t first, int64_t n,
              const InitRule& rule, float* out) {
  const uint64_t base = SplitMix64(seed ^ Fnv1a(name));
  if (rule.kind() == InitRule::UNIFORM) {
    for (int64_t i = 0; i < n; ++i) {
      const uint64_t r =
          SplitMix64(base + 2 * static_cast<uint64_t>(first + i));
      const double u = (r >> 11) * (1.0 / 9007199254740992.0);  // [0, 1)
      out[i] = static_cast<float>((2.0 * u - 1.0) * rule.bound());
    }
    return;
  }
  if (rule.kind() != InitRule::NORMAL) {
    std::fill(out, out + n, rule.kind() == InitRule::ONES ? 1.0f : 0.0f);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    // Box-Muller from two independent 53-bit uniforms of this element.
    const uint64_t r1 = SplitMix64(base + 2 * static_cast<uint64_t>(first + i));
    const uint64_t r2 = SplitMix64(r1);
    const double u1 = ((r1 >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    const double u2 = (r2 >> 11) * (1.0 / 9007199254740992.0);
    const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * M_PI * u2);
    out[i] = static_cast<float>(z * rule.std());
  }
}

uint64_t DeclarationHash(const InitRequest& request) {
  InitRequest copy = request;
  copy.clear_caller();
  std::string bytes;
  copy.SerializeToString(&bytes);  // deterministic for one schema version
  return Fnv1a(bytes);
}

std::string DescribeDeclarationDifference(const InitRequest& a,
                                          const InitRequest& b) {
  if (a.tensors_size() != b.tensors_size())
    return absl::StrCat("the model has ", a.tensors_size(),
                        " tensors but this declaration has ", b.tensors_size());
  for (int i = 0; i < a.tensors_size(); ++i) {
    const TensorSpec &x = a.tensors(i), &y = b.tensors(i);
    if (x.name() != y.name())
      return absl::StrCat("tensor ", i, " is named '", x.name(),
                          "' in the model but '", y.name(), "' here");
    if (ShapeString(x) != ShapeString(y))
      return absl::StrCat("tensor ", i, " '", x.name(), "' has shape ",
                          ShapeString(x), " in the model but ", ShapeString(y),
                          " here");
    if (InitString(x.init()) != InitString(y.init()))
      return absl::StrCat("tensor ", i, " '", x.name(), "' is initialised ",
                          InitString(x.init()), " in the model but ",
                          InitString(y.init()), " here");
  }
  if (a.seed() != b.seed())
    return absl::StrCat("seed ", a.seed(), " in the model but ", b.seed(),
                        " here");
  if (a.chunk_bytes() != b.chunk_bytes())
    return absl::StrCat("chunk_bytes ", a.chunk_bytes(), " in the model but ",
                        b.chunk_bytes(), " here");
  if (a.num_servers() != b.num_servers())
    return absl::StrCat("num_servers ", a.num_servers(), " in the model but ",
                        b.num_servers(), " here");
  if (a.num_workers() != b.num_workers())
    return absl::StrCat("num_workers ", a.num_workers(), " in the model but ",
                        b.num_workers(), " here");
  if (a.mode() != b.mode())
    return absl::StrCat("mode '", ConsistencyModeName(a.mode()),
                        "' in the model but '", ConsistencyModeName(b.mode()),
                        "' here");
  return "";
}

}  // namespace pserve
