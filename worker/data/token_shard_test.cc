// Tests for llm.c token shard I/O: round trip and every fault's message.
// Thread-safety: single-threaded test.
#include "worker/data/token_shard.h"

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace pserve {
namespace {

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

void WriteRaw(const std::string& path, const std::vector<int32_t>& header,
              const std::vector<uint16_t>& tokens) {
  std::vector<int32_t> h(256, 0);
  std::memcpy(h.data(), header.data(), header.size() * sizeof(int32_t));
  FILE* f = std::fopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  std::fwrite(h.data(), sizeof(int32_t), h.size(), f);
  if (!tokens.empty()) {
    std::fwrite(tokens.data(), sizeof(uint16_t), tokens.size(), f);
  }
  std::fclose(f);
}

// The message is one line naming the file and containing `fault`.
void CheckFault(const absl::Status& s, absl::StatusCode code,
                const std::string& path, const std::string& fault) {
  INFO(s.ToString());
  CHECK(s.code() == code);
  const std::string msg(s.message());
  CHECK(msg.find('\n') == std::string::npos);
  CHECK(msg.find(path) != std::string::npos);
  CHECK(msg.find(fault) != std::string::npos);
}

TEST_CASE("token shard round trip", "[token_shard]") {
  const std::string path = TempPath("round_trip.bin");
  std::vector<int32_t> tokens;
  for (int i = 0; i < 1000; ++i) tokens.push_back((i * 7919) % 65536);
  tokens.push_back(65535);
  REQUIRE(WriteTokenShard(path, tokens).ok());
  auto read = ReadTokenShard(path, 65536);
  REQUIRE(read.ok());
  REQUIRE(read->size() == tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) CHECK((*read)[i] == tokens[i]);

  // The header is llm.c's: magic, version, count.
  FILE* f = std::fopen(path.c_str(), "rb");
  REQUIRE(f != nullptr);
  int32_t header[256];
  REQUIRE(std::fread(header, sizeof(int32_t), 256, f) == 256);
  std::fclose(f);
  CHECK(header[0] == 20240520);
  CHECK(header[1] == 1);
  CHECK(header[2] == static_cast<int32_t>(tokens.size()));
}

TEST_CASE("empty token shard round trip", "[token_shard]") {
  const std::string path = TempPath("empty.bin");
  REQUIRE(WriteTokenShard(path, {}).ok());
  auto read = ReadTokenShard(path, 256);
  REQUIRE(read.ok());
  CHECK(read->empty());
}

TEST_CASE("token shard faults", "[token_shard]") {
  SECTION("missing file") {
    const std::string path = TempPath("does_not_exist.bin");
    CheckFault(ReadTokenShard(path, 256).status(), absl::StatusCode::kNotFound,
               path, "No such file");
  }
  SECTION("bad magic") {
    const std::string path = TempPath("bad_magic.bin");
    WriteRaw(path, {12345, 1, 2}, {1, 2});
    CheckFault(ReadTokenShard(path, 256).status(),
               absl::StatusCode::kInvalidArgument, path, "bad magic 12345");
  }
  SECTION("wrong version") {
    const std::string path = TempPath("bad_version.bin");
    WriteRaw(path, {20240520, 7, 2}, {1, 2});
    CheckFault(ReadTokenShard(path, 256).status(),
               absl::StatusCode::kInvalidArgument, path, "wrong version 7");
  }
  SECTION("truncated body") {
    const std::string path = TempPath("truncated.bin");
    WriteRaw(path, {20240520, 1, 10}, {1, 2, 3});
    CheckFault(ReadTokenShard(path, 256).status(), absl::StatusCode::kDataLoss,
               path, "truncated");
  }
  SECTION("truncated header") {
    const std::string path = TempPath("short.bin");
    FILE* f = std::fopen(path.c_str(), "wb");
    std::fputs("tiny", f);
    std::fclose(f);
    CheckFault(ReadTokenShard(path, 256).status(), absl::StatusCode::kDataLoss,
               path, "truncated");
  }
  SECTION("token >= vocab size") {
    const std::string path = TempPath("big_token.bin");
    WriteRaw(path, {20240520, 1, 3}, {1, 300, 2});
    CheckFault(ReadTokenShard(path, 256).status(),
               absl::StatusCode::kInvalidArgument, path,
               "token 300 at index 1, >= vocab size 256");
  }
  SECTION("bytes after the tokens") {
    const std::string path = TempPath("trailing.bin");
    WriteRaw(path, {20240520, 1, 1}, {1, 2});
    CheckFault(ReadTokenShard(path, 256).status(), absl::StatusCode::kDataLoss,
               path, "bytes after");
  }
  SECTION("writing a token that does not fit in uint16") {
    const std::string path = TempPath("unwritable.bin");
    CheckFault(WriteTokenShard(path, {1, 70000}),
               absl::StatusCode::kInvalidArgument, path, "token 70000");
  }
}

}  // namespace
}  // namespace pserve
