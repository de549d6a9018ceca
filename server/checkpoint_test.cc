// Checkpoints of a ShardStore: the file round trip keeps the full state;
// corrupt, truncated or foreign files are refused without changing the
// store; periodic snapshots land in the directory, the newest K are kept,
// and a restart restores the newest valid one, skipping a corrupt one.
#include "server/checkpoint.h"

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "server/recovery.h"

namespace pserve {
namespace {

InitRequest Model() {
  InitRequest r;
  for (const char* name : {"w", "b"}) {
    TensorSpec* t = r.add_tensors();
    t->set_name(name);
    t->add_shape(name[0] == 'w' ? 300 : 7);
    t->mutable_init()->set_kind(InitRule::NORMAL);
    t->mutable_init()->set_std(1.0f);
  }
  r.set_seed(3);
  r.set_chunk_bytes(256);
  r.set_num_servers(1);
  r.set_num_workers(1);
  r.set_mode(MODE_SYNC);
  return r;
}

ServerConfig Config() {
  ServerConfig c;
  c.optimizer.kind = OptimizerKind::kAdamW;
  return c;
}

std::vector<float> Params(ShardStore& s) {
  std::vector<float> out;
  for (int i = 0; i < s.num_chunks(); ++i) {
    std::vector<float> chunk(s.chunk_info(i).numel);
    s.Read(i, chunk.data());
    out.insert(out.end(), chunk.begin(), chunk.end());
  }
  return out;
}

// Pushes `steps` more steps, continuing from the store's version.
void Train(ShardStore& s, int steps) {
  const int64_t first = s.VersionRange().first;
  for (int64_t t = first; t < first + steps; ++t)
    for (int i = 0; i < s.num_chunks(); ++i) {
      std::vector<float> g(s.chunk_info(i).numel, 0.1f * (t + 1));
      REQUIRE(s.Push(i, 0, t, g.data(), 1).value());
    }
}

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/" + name;
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

TEST_CASE("checkpoint files keep parameters, optimizer state and versions") {
  ShardStore a(Config());
  REQUIRE(a.Init(Model()).ok());
  Train(a, 3);
  const std::string path = TempPath("a.ckpt");
  REQUIRE(WriteCheckpointFile(SnapshotOf(a), path).ok());
  absl::StatusOr<ServerSnapshot> read = ReadCheckpointFile(path);
  REQUIRE(read.ok());
  REQUIRE(read->step == 3);
  REQUIRE(read->declaration == a.Declaration());
  ShardStore b(Config());
  REQUIRE(b.Init(Model()).ok());
  REQUIRE(b.Restore(std::move(read->chunks), read->ssp_clocks).ok());
  REQUIRE(Params(a) == Params(b));
  REQUIRE(b.VersionRange() == std::make_pair<int64_t, int64_t>(3, 3));
  // Same optimizer state: one more identical step stays identical.
  for (int i = 0; i < a.num_chunks(); ++i) {
    std::vector<float> g(a.chunk_info(i).numel, -0.3f);
    REQUIRE(a.Push(i, 0, 3, g.data(), 1).value());
    REQUIRE(b.Push(i, 0, 3, g.data(), 1).value());
  }
  REQUIRE(Params(a) == Params(b));
}

TEST_CASE("a corrupt or foreign checkpoint is refused and changes nothing") {
  ShardStore a(Config());
  REQUIRE(a.Init(Model()).ok());
  Train(a, 2);
  const std::string path = TempPath("c.ckpt");
  REQUIRE(WriteCheckpointFile(SnapshotOf(a), path).ok());
  const std::string bytes = ReadBytes(path);
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x40;
  WriteBytes(TempPath("flipped.ckpt"), flipped);
  absl::StatusOr<ServerSnapshot> s =
      ReadCheckpointFile(TempPath("flipped.ckpt"));
  REQUIRE(absl::IsDataLoss(s.status()));
  REQUIRE(s.status().message().find("checksum") != std::string::npos);
  WriteBytes(TempPath("short.ckpt"), bytes.substr(0, bytes.size() / 3));
  REQUIRE(
      absl::IsDataLoss(ReadCheckpointFile(TempPath("short.ckpt")).status()));
  REQUIRE(
      absl::IsNotFound(ReadCheckpointFile(TempPath("missing.ckpt")).status()));
  // A file of another model does not fit this store; nothing changes.
  ServerConfig sgd = Config();
  sgd.optimizer.kind = OptimizerKind::kSgd;
  ShardStore other(sgd);
  REQUIRE(other.Init(Model()).ok());
  const std::vector<float> before = Params(other);
  absl::StatusOr<ServerSnapshot> good = ReadCheckpointFile(path);
  REQUIRE(good.ok());
  REQUIRE(absl::IsFailedPrecondition(
      other.Restore(std::move(good->chunks), good->ssp_clocks)));
  REQUIRE(Params(other) == before);
  REQUIRE(other.VersionRange().second == 0);
}

TEST_CASE("periodic checkpoints: every N versions, newest K kept, restored") {
  const std::string dir = TempPath("periodic");
  std::filesystem::remove_all(dir);
  REQUIRE(CheckpointDir::Prepare(dir).ok());
  const CheckpointPolicy policy{dir, 2, 2};
  std::vector<float> at6;
  {
    ShardStore a(Config());
    ServerRecovery recovery(&a, policy, "");
    REQUIRE(a.Init(Model()).ok());
    REQUIRE(recovery.OnDeclared().ok());
    Train(a, 6);
    at6 = Params(a);
    REQUIRE(recovery.CheckpointSteps() == std::vector<int64_t>{6, 4});
    REQUIRE(recovery.checkpoints_written() == 3);
  }
  ShardStore b(Config());
  ServerRecovery restarted(&b, policy, "");
  REQUIRE(b.Init(Model()).ok());
  REQUIRE(!restarted.restored());
  REQUIRE(restarted.OnDeclared().ok());
  REQUIRE(restarted.restored());
  REQUIRE(b.VersionRange() == std::make_pair<int64_t, int64_t>(6, 6));
  REQUIRE(Params(b) == at6);
  // Back to step 4 on request; an unknown step is refused.
  REQUIRE(absl::IsNotFound(restarted.Rollback(5, 0)));
  REQUIRE(restarted.Rollback(4, 0).ok());
  REQUIRE(b.VersionRange() == std::make_pair<int64_t, int64_t>(4, 4));
}

TEST_CASE("a restart skips a corrupt newest checkpoint with a warning") {
  const std::string dir = TempPath("corrupt");
  std::filesystem::remove_all(dir);
  REQUIRE(CheckpointDir::Prepare(dir).ok());
  const CheckpointPolicy policy{dir, 3, 2};
  std::vector<float> at3;
  {
    ShardStore a(Config());
    ServerRecovery recovery(&a, policy, "");
    REQUIRE(a.Init(Model()).ok());
    REQUIRE(recovery.OnDeclared().ok());
    Train(a, 3);
    at3 = Params(a);
    Train(a, 3);
    REQUIRE(recovery.CheckpointSteps() == std::vector<int64_t>{6, 3});
  }
  const std::string newest = CheckpointDir(dir, 0).PathFor(6);
  std::string bytes = ReadBytes(newest);
  WriteBytes(newest, bytes.substr(0, bytes.size() - 100));  // partial
  ShardStore b(Config());
  ServerRecovery restarted(&b, policy, "");
  REQUIRE(b.Init(Model()).ok());
  REQUIRE(restarted.OnDeclared().ok());
  REQUIRE(b.VersionRange() == std::make_pair<int64_t, int64_t>(3, 3));
  REQUIRE(Params(b) == at3);
}

}  // namespace
}  // namespace pserve

namespace pserve {
namespace {

TEST_CASE("a checkpoint name is a short file name, never a path") {
  for (const std::string& bad : std::vector<std::string>{
           "../etc/passwd", "a/b", "/tmp/x", "..", "x..y", std::string(65, 'a'),
           "sp ace", "semi;colon", std::string("nul\0x", 5)}) {
    INFO(bad);
    absl::StatusOr<CheckpointName> n = CheckpointName::Parse(bad);
    CHECK(absl::IsInvalidArgument(n.status()));
  }
  for (const std::string& good :
       std::vector<std::string>{"step-100", "run_2.v3", std::string(64, 'z')}) {
    INFO(good);
    absl::StatusOr<CheckpointName> n = CheckpointName::Parse(good);
    REQUIRE(n.ok());
    CHECK(n->PathIn("/ckpt", 3) == "/ckpt/" + good + "-3.ckpt");
  }
  absl::StatusOr<CheckpointName> empty = CheckpointName::Parse("");
  REQUIRE(empty.ok());
  CHECK(empty->PathIn("/d", 0) == "/d/server-0.ckpt");
}

}  // namespace
}  // namespace pserve
