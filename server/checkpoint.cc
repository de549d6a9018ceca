// Checkpoint file format (little-endian):
//   magic "PSCKPT01", u64 model_hash, i32 server_id, i32 num_chunks,
//   per chunk: u64 key, i64 version, i64 updates, i64 numel, i32 states,
//              then (1 + states) * numel floats (param, m, v),
//   u64 FNV-1a checksum of everything after the magic.
#include "server/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"

namespace pserve {
namespace {

constexpr char kMagic[8] = {'P', 'S', 'C', 'K', 'P', 'T', '0', '1'};

class Checksum {
 public:
  void Add(const void* p, size_t n) {
    const unsigned char* b = static_cast<const unsigned char*>(p);
    for (size_t i = 0; i < n; ++i) h_ = (h_ ^ b[i]) * 1099511628211ULL;
  }
  uint64_t value() const { return h_; }

 private:
  uint64_t h_ = 1469598103934665603ULL;
};

void Append(std::string& out, Checksum& sum, const void* p, size_t n) {
  out.append(static_cast<const char*>(p), n);
  sum.Add(p, n);
}

void AppendChunk(std::string& out, Checksum& sum, const ChunkSnapshot& c) {
  const int64_t numel = static_cast<int64_t>(c.param.size());
  const int32_t states = (c.m.empty() ? 0 : 1) + (c.v.empty() ? 0 : 1);
  Append(out, sum, &c.key, 8);
  Append(out, sum, &c.version, 8);
  Append(out, sum, &c.updates, 8);
  Append(out, sum, &numel, 8);
  Append(out, sum, &states, 4);
  Append(out, sum, c.param.data(), numel * 4);
  if (!c.m.empty()) Append(out, sum, c.m.data(), numel * 4);
  if (!c.v.empty()) Append(out, sum, c.v.data(), numel * 4);
}

absl::Status WriteDurably(const std::string& path, const std::string& data) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    return absl::NotFoundError(
        absl::StrCat("cannot create ", tmp, ": ", std::strerror(errno)));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return absl::InternalError(
          absl::StrCat("write ", tmp, ": ", std::strerror(errno)));
    }
    done += n;
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0)
    return absl::InternalError(absl::StrCat("fsync ", tmp, " failed"));
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return absl::InternalError(
        absl::StrCat("rename ", tmp, " -> ", path, ": ", std::strerror(errno)));
  return absl::OkStatus();
}

// Sequential reader over the file body that reports truncation.
struct Reader {
  const std::string& data;
  size_t pos = 8;
  bool Read(void* out, size_t n) {
    if (pos + n > data.size()) return false;
    std::memcpy(out, data.data() + pos, n);
    pos += n;
    return true;
  }
};

}  // namespace

absl::StatusOr<CheckpointName> CheckpointName::Parse(const std::string& name) {
  if (name.empty()) return CheckpointName("server");
  const auto allowed = [](char ch) {
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
           (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
  };
  const bool ok = name.size() <= 64 &&
                  std::all_of(name.begin(), name.end(), allowed) &&
                  name.find("..") == std::string::npos;
  if (!ok)
    return absl::InvalidArgumentError(
        "checkpoint name must be 1-64 of A-Z a-z 0-9 . _ - without \"..\" "
        "(a file name inside the server's --checkpoint_dir, not a path)");
  return CheckpointName(name);
}

std::string CheckpointName::PathIn(const std::string& dir,
                                   int server_id) const {
  return absl::StrCat(dir, "/", name_, "-", server_id, ".ckpt");
}

absl::StatusOr<int64_t> WriteCheckpoint(const ShardStore& store,
                                        const std::string& path) {
  std::string out(kMagic, 8);
  Checksum sum;
  const uint64_t hash = store.model_hash();
  const int32_t id = store.config().server_id;
  const int32_t n = store.num_chunks();
  Append(out, sum, &hash, 8);
  Append(out, sum, &id, 4);
  Append(out, sum, &n, 4);
  for (int i = 0; i < n; ++i) AppendChunk(out, sum, store.Snapshot(i));
  const uint64_t checksum = sum.value();
  out.append(reinterpret_cast<const char*>(&checksum), 8);
  absl::Status s = WriteDurably(path, out);
  if (!s.ok()) return s;
  return static_cast<int64_t>(out.size());
}

absl::Status RestoreCheckpoint(ShardStore& store, const std::string& path) {
  std::string data;
  {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr)
      return absl::NotFoundError(absl::StrCat("cannot open checkpoint ", path));
    char buf[1 << 16];
    size_t k;
    while ((k = std::fread(buf, 1, sizeof(buf), f)) > 0) data.append(buf, k);
    std::fclose(f);
  }
  if (data.size() < 32 || std::memcmp(data.data(), kMagic, 8) != 0)
    return absl::DataLossError(
        absl::StrCat(path, " is not a pserve checkpoint"));
  Checksum sum;
  sum.Add(data.data() + 8, data.size() - 16);
  uint64_t stored;
  std::memcpy(&stored, data.data() + data.size() - 8, 8);
  if (stored != sum.value())
    return absl::DataLossError(absl::StrCat(
        path,
        " fails its checksum (corrupt or truncated); refusing to restore"));
  Reader r{data};
  uint64_t hash;
  int32_t id, n;
  r.Read(&hash, 8);
  r.Read(&id, 4);
  r.Read(&n, 4);
  if (hash != store.model_hash() || id != store.config().server_id ||
      n != store.num_chunks())
    return absl::FailedPreconditionError(absl::StrCat(
        path, " was written by server ", id, " for another model or layout"));
  // Parse everything before changing anything.
  std::vector<ChunkSnapshot> loaded(n);
  for (int i = 0; i < n; ++i) {
    int64_t numel;
    int32_t states;
    ChunkSnapshot& l = loaded[i];
    if (!r.Read(&l.key, 8) || !r.Read(&l.version, 8) ||
        !r.Read(&l.updates, 8) || !r.Read(&numel, 8) || !r.Read(&states, 4))
      return absl::DataLossError(absl::StrCat(path, " is truncated"));
    if (l.key != store.chunk_info(i).key || numel != store.chunk_info(i).numel)
      return absl::FailedPreconditionError(
          absl::StrCat(path, ": chunk ", i, " does not match the model"));
    for (std::vector<float>* a : {&l.param, &l.m, &l.v}) {
      if (a != &l.param && states-- <= 0) break;
      a->resize(numel);
      if (!r.Read(a->data(), numel * 4))
        return absl::DataLossError(absl::StrCat(path, " is truncated"));
    }
  }
  return store.Restore(std::move(loaded));
}

}  // namespace pserve
