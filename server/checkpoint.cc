// Checkpoint file format (little-endian):
//   magic "PSCKPT02", then the body:
//   u64 model_hash, i32 server_id, i64 step, u32 declaration bytes + bytes,
//   i32 num_workers W, W x i64 SSP clocks, i32 num_chunks,
//   per chunk: u64 key, i64 version, i64 updates, i64 numel, i32 states,
//              W x i64 last steps, (1 + states) * numel floats (param, m, v),
//   then u64 FNV-1a checksum of the body.
#include "server/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace pserve {
namespace {

constexpr char kMagic[8] = {'P', 'S', 'C', 'K', 'P', 'T', '0', '2'};

uint64_t Fnv1a(uint64_t h, const void* p, size_t n) {
  const unsigned char* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ULL;
  return h;
}
constexpr uint64_t kFnvSeed = 1469598103934665603ULL;

// Buffered writer to a file descriptor that checksums the body.
class BodyWriter {
 public:
  explicit BodyWriter(int fd) : fd_(fd) { buf_.reserve(kBuf); }
  void Raw(const void* p, size_t n) {
    const char* c = static_cast<const char*>(p);
    while (n > 0 && ok_) {
      const size_t take = std::min(n, kBuf - buf_.size());
      buf_.append(c, take);
      c += take, n -= take;
      if (buf_.size() == kBuf) Flush();
    }
  }
  void Body(const void* p, size_t n) {
    sum_ = Fnv1a(sum_, p, n);
    Raw(p, n);
  }
  template <typename T>
  void Value(const T& v) {
    Body(&v, sizeof(T));
  }
  void Flush() {
    size_t done = 0;
    while (ok_ && done < buf_.size()) {
      ssize_t n = ::write(fd_, buf_.data() + done, buf_.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) ok_ = false;
      done += n > 0 ? n : 0;
    }
    bytes_ += done;
    buf_.clear();
  }
  bool ok() const { return ok_; }
  uint64_t sum() const { return sum_; }
  int64_t bytes() const { return bytes_; }

 private:
  static constexpr size_t kBuf = 1 << 20;
  int fd_;
  std::string buf_;
  uint64_t sum_ = kFnvSeed;
  int64_t bytes_ = 0;
  bool ok_ = true;
};

void WriteBody(const ServerSnapshot& s, BodyWriter& w) {
  w.Value(s.model_hash);
  w.Value(s.server_id);
  w.Value(s.step);
  w.Value(static_cast<uint32_t>(s.declaration.size()));
  w.Body(s.declaration.data(), s.declaration.size());
  w.Value(static_cast<int32_t>(s.ssp_clocks.size()));
  w.Body(s.ssp_clocks.data(), s.ssp_clocks.size() * 8);
  w.Value(static_cast<int32_t>(s.chunks.size()));
  for (const ChunkSnapshot& c : s.chunks) {
    const int64_t numel = static_cast<int64_t>(c.param.size());
    const int32_t states = (c.m.empty() ? 0 : 1) + (c.v.empty() ? 0 : 1);
    w.Value(c.key);
    w.Value(c.version);
    w.Value(c.updates);
    w.Value(numel);
    w.Value(states);
    w.Body(c.last_step.data(), s.ssp_clocks.size() * 8);
    w.Body(c.param.data(), numel * 4);
    if (!c.m.empty()) w.Body(c.m.data(), numel * 4);
    if (!c.v.empty()) w.Body(c.v.data(), numel * 4);
  }
}

// Sequential reader over a file's bytes that reports truncation.
struct Reader {
  const std::string& data;
  size_t pos;
  size_t end;
  bool Read(void* out, size_t n) {
    if (n > end - pos) return false;
    std::memcpy(out, data.data() + pos, n);
    pos += n;
    return true;
  }
  template <typename T>
  bool Value(T* v) {
    return Read(v, sizeof(T));
  }
  bool Floats(std::vector<float>* v, int64_t n) {
    if (n < 0 || static_cast<uint64_t>(n) > (end - pos) / 4) return false;
    v->resize(n);
    return Read(v->data(), n * 4);
  }
};

bool ReadChunk(Reader& r, int32_t workers, ChunkSnapshot* c) {
  int64_t numel;
  int32_t states;
  if (!r.Value(&c->key) || !r.Value(&c->version) || !r.Value(&c->updates) ||
      !r.Value(&numel) || !r.Value(&states) || states < 0 || states > 2)
    return false;
  c->last_step.resize(workers);
  if (!r.Read(c->last_step.data(), workers * 8ULL)) return false;
  if (!r.Floats(&c->param, numel)) return false;
  if (states >= 1 && !r.Floats(&c->m, numel)) return false;
  if (states >= 2 && !r.Floats(&c->v, numel)) return false;
  return true;
}

absl::StatusOr<std::string> Slurp(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr)
    return absl::NotFoundError(absl::StrCat("cannot open checkpoint ", path,
                                            ": ", std::strerror(errno)));
  std::string data;
  char buf[1 << 16];
  size_t k;
  while ((k = std::fread(buf, 1, sizeof(buf), f)) > 0) data.append(buf, k);
  std::fclose(f);
  return data;
}

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

absl::StatusOr<int64_t> WriteCheckpointFile(const ServerSnapshot& snapshot,
                                            const std::string& path) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    return absl::NotFoundError(
        absl::StrCat("cannot create ", tmp, ": ", std::strerror(errno)));
  BodyWriter w(fd);
  w.Raw(kMagic, 8);
  WriteBody(snapshot, w);
  const uint64_t sum = w.sum();
  w.Raw(&sum, 8);
  w.Flush();
  const bool synced = w.ok() && ::fsync(fd) == 0;
  if (::close(fd) != 0 || !synced) {
    std::remove(tmp.c_str());
    return absl::InternalError(
        absl::StrCat("writing ", tmp, " failed: ", std::strerror(errno)));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return absl::InternalError(
        absl::StrCat("rename ", tmp, " -> ", path, ": ", std::strerror(errno)));
  return w.bytes();
}

void FillSnapshotHeader(const ShardStore& store, ServerSnapshot* s) {
  s->model_hash = store.model_hash();
  s->server_id = store.config().server_id;
  s->declaration = store.Declaration();
  s->ssp_clocks = store.SspClocks();
}

ServerSnapshot SnapshotOf(const ShardStore& store) {
  ServerSnapshot s;
  for (int i = 0; i < store.num_chunks(); ++i)
    s.chunks.push_back(store.Snapshot(i));
  FillSnapshotHeader(store, &s);
  s.step = store.VersionRange().first;
  return s;
}

absl::Status RestoreSnapshot(ShardStore& store, ServerSnapshot snapshot,
                             const std::string& from) {
  absl::Status s;
  if (snapshot.server_id != store.config().server_id)
    s = absl::FailedPreconditionError(
        absl::StrCat("it was written by server ", snapshot.server_id));
  else if (snapshot.model_hash != store.model_hash())
    s = absl::FailedPreconditionError(
        "it holds another model (declaration hash differs)");
  else
    s = store.Restore(std::move(snapshot.chunks), snapshot.ssp_clocks);
  if (s.ok()) return s;
  return absl::FailedPreconditionError(
      absl::StrCat(from, " does not fit this server: ", s.message()));
}

absl::StatusOr<ServerSnapshot> ReadCheckpointFile(const std::string& path) {
  absl::StatusOr<std::string> data = Slurp(path);
  if (!data.ok()) return data.status();
  if (data->size() < 16 || std::memcmp(data->data(), kMagic, 8) != 0)
    return absl::DataLossError(
        absl::StrCat(path, " is not a pserve checkpoint (bad magic)"));
  uint64_t stored;
  std::memcpy(&stored, data->data() + data->size() - 8, 8);
  if (stored != Fnv1a(kFnvSeed, data->data() + 8, data->size() - 16))
    return absl::DataLossError(
        absl::StrCat(path, " fails its checksum (corrupt or truncated)"));
  Reader r{*data, 8, data->size() - 8};
  ServerSnapshot s;
  uint32_t decl = 0;
  int32_t workers = 0, chunks = 0;
  bool ok = r.Value(&s.model_hash) && r.Value(&s.server_id) &&
            r.Value(&s.step) && r.Value(&decl) && decl <= r.end - r.pos;
  if (ok) {
    s.declaration.assign(data->data() + r.pos, decl);
    r.pos += decl;
    ok = r.Value(&workers) && workers >= 0 && workers <= (1 << 20);
  }
  if (ok) {
    s.ssp_clocks.resize(workers);
    ok = r.Read(s.ssp_clocks.data(), workers * 8ULL) && r.Value(&chunks) &&
         chunks >= 0;
  }
  for (int32_t i = 0; ok && i < chunks; ++i) {
    s.chunks.emplace_back();
    ok = ReadChunk(r, workers, &s.chunks.back());
  }
  if (!ok || r.pos != r.end)
    return absl::DataLossError(
        absl::StrCat(path, " is malformed although its checksum matches"));
  return s;
}

}  // namespace pserve
