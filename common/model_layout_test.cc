// Partitioner balance and determinism, key mapping, deterministic init and
// declaration comparison.
#include "common/model_layout.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <numeric>

namespace pserve {
namespace {

TensorSpec Spec(const std::string& name, std::vector<int64_t> shape) {
  TensorSpec t;
  t.set_name(name);
  for (int64_t d : shape) t.add_shape(d);
  t.mutable_init()->set_kind(InitRule::NORMAL);
  t.mutable_init()->set_std(0.02f);
  return t;
}

// GPT-2 124M in llm.c's order: V=50257 padded to 50304, C=768, L=12, T=1024.
std::vector<TensorSpec> Gpt2Small() {
  const int64_t Vp = 50304, C = 768, L = 12, T = 1024;
  return {Spec("wte", {Vp, C}),
          Spec("wpe", {T, C}),
          Spec("ln1w", {L, C}),
          Spec("ln1b", {L, C}),
          Spec("qkvw", {L, 3 * C, C}),
          Spec("qkvb", {L, 3 * C}),
          Spec("attprojw", {L, C, C}),
          Spec("attprojb", {L, C}),
          Spec("ln2w", {L, C}),
          Spec("ln2b", {L, C}),
          Spec("fcw", {L, 4 * C, C}),
          Spec("fcb", {L, 4 * C}),
          Spec("fcprojw", {L, C, 4 * C}),
          Spec("fcprojb", {L, C}),
          Spec("lnfw", {C}),
          Spec("lnfb", {C})};
}

TEST_CASE("GPT-2 124M over 4 servers is balanced within 1.10 of the mean") {
  auto layout = ModelLayout::Build(Gpt2Small(), 4 << 20, 4);
  REQUIRE(layout.ok());
  REQUIRE(layout->total_params() == 124475904);
  std::vector<int64_t> bytes = layout->BytesPerServer();
  double mean = std::accumulate(bytes.begin(), bytes.end(), 0.0) / 4;
  double max = *std::max_element(bytes.begin(), bytes.end());
  INFO("max/mean = " << max / mean);
  REQUIRE(max / mean <= 1.10);
}

TEST_CASE("Partition is deterministic and chunks tile every tensor") {
  auto a = ModelLayout::Build(Gpt2Small(), 1 << 20, 3);
  auto b = ModelLayout::Build(Gpt2Small(), 1 << 20, 3);
  REQUIRE(a.ok());
  REQUIRE(a->chunks().size() == b->chunks().size());
  int64_t covered = 0;
  for (size_t i = 0; i < a->chunks().size(); ++i) {
    const ChunkInfo &x = a->chunks()[i], &y = b->chunks()[i];
    REQUIRE(x.key == y.key);
    REQUIRE(x.server == y.server);
    REQUIRE(x.numel * 4 <= (1 << 20));
    REQUIRE(x.flat_offset == covered);
    REQUIRE(a->FindChunk(x.key) == static_cast<int>(i));
    covered += x.numel;
  }
  REQUIRE(covered == a->total_params());
  REQUIRE(a->FindChunk(ChunkKey(99, 0)) == -1);
}

TEST_CASE("Bad layouts are refused with a reason") {
  REQUIRE(!ModelLayout::Build({}, 1024, 1).ok());
  REQUIRE(!ModelLayout::Build(Gpt2Small(), 1024, 0).ok());
  auto dup = Gpt2Small();
  dup.push_back(Spec("wte", {4}));
  auto s = ModelLayout::Build(dup, 1024, 2);
  REQUIRE(!s.ok());
  REQUIRE(s.status().message().find("wte") != std::string::npos);
  auto bad = ModelLayout::Build({Spec("x", {3, 0})}, 1024, 1);
  REQUIRE(!bad.ok());
}

TEST_CASE("Init depends on (seed, name, index) only, with the right std") {
  InitRule rule;
  rule.set_kind(InitRule::NORMAL);
  rule.set_std(0.02f);
  std::vector<float> whole(10000), part(100);
  FillInit(7, "w", 0, 10000, rule, whole.data());
  FillInit(7, "w", 5000, 100, rule, part.data());
  for (int i = 0; i < 100; ++i) REQUIRE(part[i] == whole[5000 + i]);
  REQUIRE(InitValue(7, "w", 3, rule) == whole[3]);
  REQUIRE(InitValue(8, "w", 3, rule) != whole[3]);
  REQUIRE(InitValue(7, "v", 3, rule) != whole[3]);
  double sum = 0, sq = 0;
  for (float x : whole) sum += x, sq += x * x;
  double mean = sum / whole.size(), std = std::sqrt(sq / whole.size());
  REQUIRE(std::abs(mean) < 0.001);
  REQUIRE(std == Approx(0.02).epsilon(0.03));
  rule.set_kind(InitRule::ONES);
  REQUIRE(InitValue(7, "w", 3, rule) == 1.0f);
}

TEST_CASE("Uniform init stays in [-bound, bound] with variance bound^2/3") {
  InitRule rule;
  rule.set_kind(InitRule::UNIFORM);
  rule.set_bound(0.5f);
  std::vector<float> whole(20000), part(10);
  FillInit(3, "fc1.weight", 0, 20000, rule, whole.data());
  FillInit(3, "fc1.weight", 777, 10, rule, part.data());
  for (int i = 0; i < 10; ++i) REQUIRE(part[i] == whole[777 + i]);
  double sum = 0, sq = 0, lo = 1, hi = -1;
  for (float x : whole) {
    sum += x, sq += x * x;
    lo = std::min<double>(lo, x), hi = std::max<double>(hi, x);
  }
  REQUIRE(lo >= -0.5);
  REQUIRE(hi <= 0.5);
  REQUIRE(std::abs(sum / whole.size()) < 0.01);
  REQUIRE(sq / whole.size() == Approx(0.25 / 3).epsilon(0.03));
}

TEST_CASE("Declaration differences are named") {
  InitRequest a;
  for (auto& t : Gpt2Small()) *a.add_tensors() = t;
  a.set_seed(1);
  InitRequest b = a;
  b.mutable_caller()->set_rank(3);
  REQUIRE(DescribeDeclarationDifference(a, b).empty());
  REQUIRE(DeclarationHash(a) == DeclarationHash(b));
  b.mutable_tensors(4)->set_shape(1, 999);
  std::string diff = DescribeDeclarationDifference(a, b);
  REQUIRE(diff.find("qkvw") != std::string::npos);
  REQUIRE(diff.find("999") != std::string::npos);
  REQUIRE(DeclarationHash(a) != DeclarationHash(b));
  b = a;
  b.set_seed(2);
  REQUIRE(DescribeDeclarationDifference(a, b).find("seed") == 0);
}

}  // namespace
}  // namespace pserve
