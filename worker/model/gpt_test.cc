// Tests of the Gpt class on the CPU backend: determinism, the backward
// layer callback, gradient slices, buffer reuse across batch shapes and
// input validation.
// Thread-safety: single-threaded tests.
#include "worker/model/gpt.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <random>
#include <vector>

#include "kernels/ops.h"
#include "worker/model/gpt_test_util.h"

namespace pserve {
namespace {

struct Run {
  float loss;
  std::vector<float> logits, grads;
};

Run ForwardBackward(Gpt& gpt, const std::vector<int32_t>& in,
                    const std::vector<int32_t>& tg, int B, int T) {
  Run r;
  absl::StatusOr<float> loss = gpt.Forward(in.data(), tg.data(), B, T);
  REQUIRE(loss.ok());
  r.loss = *loss;
  r.logits.resize(static_cast<size_t>(B) * T * gpt.config().padded_vocab_size);
  gpt.GetLogits(r.logits.data());
  REQUIRE(gpt.Backward().ok());
  r.grads.resize(gpt.num_parameters());
  gpt.GetGradients(r.grads.data());
  return r;
}

TEST_CASE("forward and backward are deterministic and reuse buffers") {
  const GptConfig c = *GptPreset("tiny");
  auto backend = MakeCpuBackend(2);
  auto a = Gpt::Create(c, backend.get());
  auto b = Gpt::Create(c, backend.get());
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  const std::vector<float> params = InitParams(c, 7);
  (*a)->SetParameters(params.data());
  (*b)->SetParameters(params.data());
  std::vector<float> back(params.size());
  (*a)->GetParameters(back.data());
  CHECK(back == params);

  const int B = 3, T = 32;
  const auto in = RandomTokens(B * T, c.vocab_size, 1);
  const auto tg = RandomTokens(B * T, c.vocab_size, 2);
  const Run first = ForwardBackward(**a, in, tg, B, T);
  CHECK(first.loss > 4.0f);  // about ln(256) = 5.55 at init
  CHECK(first.loss < 7.0f);

  // The same model again, after a bigger and a smaller batch in between.
  const auto big = RandomTokens(4 * 64, c.vocab_size, 3);
  ForwardBackward(**a, big, big, 4, 64);
  ForwardBackward(**a, big, big, 1, 5);
  const Run again = ForwardBackward(**a, in, tg, B, T);
  CHECK(again.loss == first.loss);
  CHECK(again.logits == first.logits);
  CHECK(again.grads == first.grads);

  // A second model on the same backend.
  const Run other = ForwardBackward(**b, in, tg, B, T);
  CHECK(other.loss == first.loss);
  CHECK(other.grads == first.grads);

  // Inference without targets gives the same logits.
  REQUIRE((*a)->Forward(in.data(), nullptr, B, T).ok());
  std::vector<float> logits(first.logits.size());
  (*a)->GetLogits(logits.data());
  CHECK(logits == first.logits);
  std::vector<float> row(c.padded_vocab_size);
  (*a)->GetLogitsAt(2, 31, row.data());
  CHECK(std::equal(row.begin(), row.end(),
                   first.logits.end() - c.padded_vocab_size));
  CHECK((*a)->Backward().code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("the layer callback fires L-1..0 then -1, with final gradients") {
  const GptConfig c = *GptPreset("tiny");
  auto backend = MakeCpuBackend(2);
  auto model = Gpt::Create(c, backend.get());
  REQUIRE(model.ok());
  Gpt& gpt = **model;
  const std::vector<float> params = InitParams(c, 11);
  gpt.SetParameters(params.data());
  const int B = 2, T = 16;
  const auto in = RandomTokens(B * T, c.vocab_size, 4);
  const auto tg = RandomTokens(B * T, c.vocab_size, 5);
  REQUIRE(gpt.Forward(in.data(), tg.data(), B, T).ok());

  std::vector<int> order;
  // What each callback saw, gathered into one flat array.
  std::vector<float> seen(gpt.num_parameters(), -1.0f);
  std::vector<int> covered(gpt.num_parameters(), 0);
  REQUIRE(gpt.Backward([&](int layer) {
               order.push_back(layer);
               for (const TensorSlice& s : gpt.LayerSlices(layer)) {
                 const size_t at = gpt.tensor_offset(s.tensor) + s.offset;
                 backend->CopyToHost(seen.data() + at,
                                     gpt.grad(s.tensor) + s.offset, s.size);
                 for (size_t i = 0; i < s.size; ++i) ++covered[at + i];
               }
             })
              .ok());
  CHECK(order == std::vector<int>{1, 0, -1});
  std::vector<float> grads(gpt.num_parameters());
  gpt.GetGradients(grads.data());
  CHECK(seen == grads);                   // nothing changed after its callback
  for (int n : covered) REQUIRE(n == 1);  // slices tile the parameters
}

TEST_CASE("the forward callback fires -1..L before each group's first read") {
  const GptConfig c = *GptPreset("tiny");
  auto backend = MakeCpuBackend(1);
  auto model = Gpt::Create(c, backend.get());
  REQUIRE(model.ok());
  Gpt& gpt = **model;
  const std::vector<float> params = InitParams(c, 11);
  const int B = 2, T = 16;
  const auto in = RandomTokens(B * T, c.vocab_size, 4);
  const auto tg = RandomTokens(B * T, c.vocab_size, 5);
  gpt.SetParameters(params.data());
  auto plain = gpt.Forward(in.data(), tg.data(), B, T);
  REQUIRE(plain.ok());
  // Parameters are zero until their group's callback sets them: the loss
  // is the same only if no group is read before its callback.
  std::vector<float> zeros(gpt.num_parameters(), 0.0f);
  gpt.SetParameters(zeros.data());
  std::vector<int> order;
  auto gated = gpt.Forward(in.data(), tg.data(), B, T, [&](int layer) {
    order.push_back(layer);
    std::vector<TensorSlice> group;
    if (layer == c.num_layers) {
      group = {{kLnfw, 0, gpt.tensor_size(kLnfw)},
               {kLnfb, 0, gpt.tensor_size(kLnfb)}};
    } else if (layer == -1) {
      group = {{kWte, 0, gpt.tensor_size(kWte)},
               {kWpe, 0, gpt.tensor_size(kWpe)}};
    } else {
      for (const TensorSlice& s : gpt.LayerSlices(layer)) group.push_back(s);
    }
    for (const TensorSlice& s : group)
      std::copy_n(params.data() + gpt.tensor_offset(s.tensor) + s.offset,
                  s.size, gpt.param(s.tensor) + s.offset);
  });
  REQUIRE(gated.ok());
  CHECK(order == std::vector<int>{-1, 0, 1, 2});
  CHECK(*gated == *plain);
}

TEST_CASE("bad inputs are rejected") {
  const GptConfig c = *GptPreset("tiny");
  auto backend = MakeCpuBackend(1);
  auto model = Gpt::Create(c, backend.get());
  REQUIRE(model.ok());
  Gpt& gpt = **model;
  std::vector<int32_t> tokens(2 * 65, 1);
  CHECK(gpt.Forward(tokens.data(), nullptr, 2, 65).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(gpt.Forward(tokens.data(), nullptr, 0, 4).status().code() ==
        absl::StatusCode::kInvalidArgument);
  tokens[3] = 256;
  CHECK(gpt.Forward(tokens.data(), nullptr, 1, 8).status().code() ==
        absl::StatusCode::kInvalidArgument);
  tokens[3] = 0;
  std::vector<int32_t> targets(8, -1);
  CHECK(gpt.Forward(tokens.data(), targets.data(), 1, 8).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(gpt.Backward().code() == absl::StatusCode::kFailedPrecondition);

  GptConfig bad = c;
  bad.num_heads = 5;
  CHECK(Gpt::Create(bad, backend.get()).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(Gpt::Create(c, nullptr).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pserve
