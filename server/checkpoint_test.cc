// Checkpoint round trip through a ShardStore, and refusal of corrupt,
// truncated or foreign files without changing the store.
#include "server/checkpoint.h"

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <string>

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

void Train(ShardStore& s, int steps) {
  for (int t = 0; t < steps; ++t)
    for (int i = 0; i < s.num_chunks(); ++i) {
      std::vector<float> g(s.chunk_info(i).numel, 0.1f * (t + 1));
      REQUIRE(s.Push(i, 0, t, g.data(), 1).value());
    }
}

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/" + name;
}

TEST_CASE("checkpoint restores parameters, optimizer state and versions") {
  ShardStore a(Config());
  REQUIRE(a.Init(Model()).ok());
  Train(a, 3);
  const std::string path = TempPath("a.ckpt");
  REQUIRE(WriteCheckpoint(a, path).ok());
  ShardStore b(Config());
  REQUIRE(b.Init(Model()).ok());
  REQUIRE(RestoreCheckpoint(b, path).ok());
  REQUIRE(Params(a) == Params(b));
  REQUIRE(b.VersionRange() == std::make_pair<int64_t, int64_t>(3, 3));
  // Same optimizer state: one more identical step stays identical.
  Train(a, 0);
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
  REQUIRE(WriteCheckpoint(a, path).ok());
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  ShardStore fresh(Config());
  REQUIRE(fresh.Init(Model()).ok());
  const std::vector<float> before = Params(fresh);
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x40;
  std::ofstream(TempPath("flipped.ckpt"), std::ios::binary) << flipped;
  absl::Status s = RestoreCheckpoint(fresh, TempPath("flipped.ckpt"));
  REQUIRE(absl::IsDataLoss(s));
  REQUIRE(s.message().find("checksum") != std::string::npos);
  std::ofstream(TempPath("short.ckpt"), std::ios::binary)
      << bytes.substr(0, bytes.size() / 3);
  REQUIRE(!RestoreCheckpoint(fresh, TempPath("short.ckpt")).ok());
  REQUIRE(absl::IsNotFound(RestoreCheckpoint(fresh, TempPath("missing.ckpt"))));
  InitRequest other = Model();
  other.set_seed(4);
  ShardStore foreign(Config());
  REQUIRE(foreign.Init(other).ok());
  REQUIRE(absl::IsFailedPrecondition(RestoreCheckpoint(foreign, path)));
  REQUIRE(Params(fresh) == before);
  REQUIRE(fresh.VersionRange().second == 0);
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
