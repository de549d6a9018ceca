// Tests for the data loader: the data-parallel partition property, epoch
// reshuffling, sequential evaluation order and its errors.
// Thread-safety: single-threaded test.
#include "worker/data/data_loader.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "worker/data/token_shard.h"

namespace pserve {
namespace {

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

// A shard whose token i is i % 251, so a row's first token identifies it.
std::string MakeShard(const std::string& name, int n) {
  std::vector<int32_t> tokens(n);
  for (int i = 0; i < n; ++i) tokens[i] = i % 251;
  const std::string path = TempPath(name);
  REQUIRE(WriteTokenShard(path, tokens).ok());
  return path;
}

struct Batch {
  std::vector<int32_t> inputs, targets;
};

Batch Next(DataLoader& d) {
  Batch b;
  const size_t size = static_cast<size_t>(d.batch_size()) * d.seq_len();
  b.inputs.resize(size);
  b.targets.resize(size);
  d.NextBatch(b.inputs.data(), b.targets.data());
  return b;
}

TEST_CASE("W workers with batch B get the rows of one worker with W*B",
          "[data_loader]") {
  const int T = 8;
  // 20 rows; W*B = 4 -> 5 steps per epoch.
  const std::string path = MakeShard("partition.bin", 20 * T + 1);
  auto single = DataLoader::Open(path, 4, T, 0, 1, 42, 256);
  auto w0 = DataLoader::Open(path, 2, T, 0, 2, 42, 256);
  auto w1 = DataLoader::Open(path, 2, T, 1, 2, 42, 256);
  REQUIRE(single.ok());
  REQUIRE(w0.ok());
  REQUIRE(w1.ok());
  CHECK(single->num_rows() == 20);
  CHECK(single->steps_per_epoch() == 5);
  CHECK(w0->steps_per_epoch() == 5);
  for (int step = 0; step < 13; ++step) {  // Crosses two epoch boundaries.
    INFO("step " << step);
    CHECK(single->epoch() == step / 5);
    const Batch all = Next(*single);
    const Batch a = Next(*w0);
    const Batch b = Next(*w1);
    std::vector<int32_t> in(a.inputs), tg(a.targets);
    in.insert(in.end(), b.inputs.begin(), b.inputs.end());
    tg.insert(tg.end(), b.targets.begin(), b.targets.end());
    CHECK(in == all.inputs);
    CHECK(tg == all.targets);
    for (size_t i = 0; i < all.inputs.size(); ++i) {
      CHECK(all.targets[i] == (all.inputs[i] + 1) % 251);
    }
  }
  CHECK(w1->epoch() == 2);
}

// The first token of each row of an epoch (rows are identified by it).
std::vector<int32_t> EpochRows(DataLoader& d) {
  std::vector<int32_t> rows;
  for (int64_t s = 0; s < d.steps_per_epoch(); ++s) {
    const Batch b = Next(d);
    for (int r = 0; r < d.batch_size(); ++r) {
      rows.push_back(b.inputs[static_cast<size_t>(r) * d.seq_len()]);
    }
  }
  return rows;
}

TEST_CASE("each epoch reshuffles, deterministically per seed",
          "[data_loader]") {
  const int T = 4;
  const std::string path = MakeShard("shuffle.bin", 40 * T + 1);
  auto a = DataLoader::Open(path, 5, T, 0, 1, 7, 256);
  auto b = DataLoader::Open(path, 5, T, 0, 1, 7, 256);
  auto other = DataLoader::Open(path, 5, T, 0, 1, 8, 256);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  REQUIRE(other.ok());
  const auto a0 = EpochRows(*a), a1 = EpochRows(*a);
  const auto b0 = EpochRows(*b), b1 = EpochRows(*b);
  const auto o0 = EpochRows(*other);
  CHECK(a0 == b0);
  CHECK(a1 == b1);
  CHECK(a0 != a1);
  CHECK(a0 != o0);
  // Every row exactly once per epoch (40 rows, 8 steps of 5).
  CHECK(std::set<int32_t>(a0.begin(), a0.end()).size() == 40);
  CHECK(std::set<int32_t>(a1.begin(), a1.end()).size() == 40);

  // Reset and Seek reproduce the same batches.
  a->Reset();
  CHECK(a->epoch() == 0);
  CHECK(EpochRows(*a) == a0);
  a->Seek(8 + 3);
  CHECK(a->epoch() == 1);
  CHECK(a->step_in_epoch() == 3);
  const Batch sought = Next(*a);
  b->Reset();
  for (int i = 0; i < 11; ++i) Next(*b);
  CHECK(Next(*b).inputs == sought.inputs);
}

TEST_CASE("sequential order for evaluation", "[data_loader]") {
  const int T = 4;
  const std::string path = MakeShard("eval.bin", 12 * T + 3);
  auto w0 = DataLoader::OpenSequential(path, 2, T, 0, 2, 256);
  auto w1 = DataLoader::OpenSequential(path, 2, T, 1, 2, 256);
  REQUIRE(w0.ok());
  REQUIRE(w1.ok());
  CHECK(w0->steps_per_epoch() == 3);
  for (int pass = 0; pass < 2; ++pass) {
    w0->Reset();
    w1->Reset();
    for (int s = 0; s < 3; ++s) {
      const Batch a = Next(*w0), b = Next(*w1);
      CHECK(a.inputs[0] == (s * 4 + 0) * T);
      CHECK(a.inputs[T] == (s * 4 + 1) * T);
      CHECK(b.inputs[0] == (s * 4 + 2) * T);
      CHECK(b.inputs[T] == (s * 4 + 3) * T);
      CHECK(b.targets[2 * T - 1] == (s * 4 + 4) * T);
    }
  }
}

TEST_CASE("data loader errors", "[data_loader]") {
  const int T = 16;
  const std::string path = MakeShard("small.bin", 3 * T + 1);  // 3 rows.
  auto too_small = DataLoader::Open(path, 2, T, 0, 2, 1, 256);
  CHECK(too_small.status().code() == absl::StatusCode::kFailedPrecondition);
  const std::string msg(too_small.status().message());
  CHECK(msg.find(path) != std::string::npos);
  CHECK(msg.find("too small") != std::string::npos);
  CHECK(msg.find('\n') == std::string::npos);
  CHECK(DataLoader::Open(path, 3, T, 0, 1, 1, 256).ok());
  CHECK(DataLoader::Open(path, 1, T, 2, 2, 1, 256).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(DataLoader::Open(path, 0, T, 0, 1, 1, 256).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(DataLoader::Open(path, 1, T, 0, 1, 1, 40).status().code() ==
        absl::StatusCode::kInvalidArgument);  // Tokens up to 48.
  CHECK(DataLoader::Open(TempPath("missing.bin"), 1, T, 0, 1, 1, 256)
            .status()
            .code() == absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace pserve
