// Tests of GPT presets, config validation and the parameter tensor list.
// Thread-safety: single-threaded tests.
#include "worker/model/gpt_config.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <string>

namespace pserve {
namespace {

TEST_CASE("presets are valid and found by name") {
  for (const std::string& name : GptPresetNames()) {
    absl::StatusOr<GptConfig> c = GptPreset(name);
    REQUIRE(c.ok());
    CHECK(ValidateGptConfig(*c).ok());
    CHECK(c->padded_vocab_size == PadVocab(c->vocab_size));
  }
  absl::StatusOr<GptConfig> g = GptPreset("gpt2-124m");
  REQUIRE(g.ok());
  CHECK(GptConfigString(*g) == "L=12 C=768 NH=12 T=1024 V=50257 Vp=50304");
  // llm.c's count for GPT-2 124M with the padded vocabulary.
  CHECK(GptNumParameters(*g) == 124475904u);
}

TEST_CASE("an unknown preset names the valid ones") {
  absl::StatusOr<GptConfig> c = GptPreset("huge");
  REQUIRE(c.status().code() == absl::StatusCode::kInvalidArgument);
  const std::string msg(c.status().message());
  CHECK(msg.find("huge") != std::string::npos);
  CHECK(msg.find("tiny, small, gpt2-124m") != std::string::npos);
}

TEST_CASE("config validation names the bad field") {
  GptConfig c = *GptPreset("tiny");
  c.num_heads = 3;
  CHECK(std::string(ValidateGptConfig(c).message()).find("num_heads") !=
        std::string::npos);
  c = *GptPreset("tiny");
  c.padded_vocab_size = 200;
  CHECK(ValidateGptConfig(c).code() == absl::StatusCode::kInvalidArgument);
  c = *GptPreset("tiny");
  c.channels = 0;
  CHECK(std::string(ValidateGptConfig(c).message()).find("channels") !=
        std::string::npos);
  CHECK(PadVocab(50257) == 50304);
  CHECK(PadVocab(256) == 256);
}

TEST_CASE("parameter specs follow llm.c order, shapes and GPT-2 init") {
  const GptConfig c = *GptPreset("tiny");  // L=2 C=64
  const auto specs = GptParameterSpecs(c);
  REQUIRE(specs.size() == kNumGptTensors);
  const char* names[] = {"wte",      "wpe",      "ln1w", "ln1b", "qkvw", "qkvb",
                         "attprojw", "attprojb", "ln2w", "ln2b", "fcw",  "fcb",
                         "fcprojw",  "fcprojb",  "lnfw", "lnfb"};
  const auto sizes = GptTensorSizes(c);
  const auto offsets = GptTensorOffsets(c);
  size_t total = 0;
  for (int i = 0; i < kNumGptTensors; ++i) {
    CHECK(specs[i].name() == names[i]);
    CHECK(std::string(GptTensorName(i)) == names[i]);
    size_t n = 1;
    for (int64_t d : specs[i].shape()) n *= d;
    CHECK(n == sizes[i]);
    CHECK(offsets[i] == total);
    total += n;
  }
  CHECK(total == GptNumParameters(c));
  CHECK(specs[kQkvw].shape().size() == 3);
  CHECK(specs[kQkvw].shape(0) == 2);
  CHECK(specs[kQkvw].shape(1) == 3 * 64);
  CHECK(specs[kQkvw].shape(2) == 64);
  CHECK(specs[kFcprojw].shape(1) == 64);
  CHECK(specs[kFcprojw].shape(2) == 256);
  CHECK(specs[kWte].shape(0) == 256);

  CHECK(specs[kWte].init().kind() == InitRule::NORMAL);
  CHECK(specs[kWte].init().std() == Approx(0.02f));
  CHECK(specs[kWpe].init().std() == Approx(0.01f));
  CHECK(specs[kFcw].init().std() == Approx(0.02f));
  CHECK(specs[kAttprojw].init().std() == Approx(0.02f / std::sqrt(4.0f)));
  CHECK(specs[kFcprojw].init().std() == Approx(0.01f));
  for (int i : {kLn1w, kLn2w, kLnfw}) {
    CHECK(specs[i].init().kind() == InitRule::ONES);
  }
  for (int i : {kLn1b, kQkvb, kAttprojb, kLn2b, kFcb, kFcprojb, kLnfb}) {
    CHECK(specs[i].init().kind() == InitRule::ZEROS);
  }
  CHECK(IsPerLayerTensor(kLn1w));
  CHECK(IsPerLayerTensor(kFcprojb));
  CHECK_FALSE(IsPerLayerTensor(kWpe));
  CHECK_FALSE(IsPerLayerTensor(kLnfw));
}

}  // namespace
}  // namespace pserve
