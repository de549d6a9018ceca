// GPT-2 configuration presets and the llm.c-ordered parameter tensor list.
// Thread-safety: pure functions over constant tables.
#include "worker/model/gpt_config.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace pserve {
namespace {

constexpr const char* kTensorNames[kNumGptTensors] = {
    "wte",      "wpe",      "ln1w", "ln1b", "qkvw", "qkvb",
    "attprojw", "attprojb", "ln2w", "ln2b", "fcw",  "fcb",
    "fcprojw",  "fcprojb",  "lnfw", "lnfb"};

struct Preset {
  const char* name;
  GptConfig config;
};

// "small" is sized for the 2-core CPU demo: L=4, C=256 at T=256 is ~3.2M
// parameters, the configuration whose PyTorch and llm.c speeds
// docs/architecture.md ("Measured facts") records (2-5k tokens/s on 2 threads
// at B=8), so ~8 minutes sees 1-2M byte tokens: enough for a clearly falling
// loss and half-readable text, with a context long enough to hold a sentence.
const Preset kPresets[] = {
    {"tiny", {/*T=*/64, /*V=*/256, /*Vp=*/256, /*L=*/2, /*NH=*/4, /*C=*/64}},
    {"small", {256, 256, 256, 4, 4, 256}},
    {"gpt2-124m", {1024, 50257, 50304, 12, 12, 768}},
};

}  // namespace

bool operator==(const GptConfig& a, const GptConfig& b) {
  return a.max_seq_len == b.max_seq_len && a.vocab_size == b.vocab_size &&
         a.padded_vocab_size == b.padded_vocab_size &&
         a.num_layers == b.num_layers && a.num_heads == b.num_heads &&
         a.channels == b.channels;
}

std::string GptConfigString(const GptConfig& c) {
  return absl::StrCat("L=", c.num_layers, " C=", c.channels,
                      " NH=", c.num_heads, " T=", c.max_seq_len,
                      " V=", c.vocab_size, " Vp=", c.padded_vocab_size);
}

absl::Status ValidateGptConfig(const GptConfig& c) {
  const std::pair<const char*, int> fields[] = {
      {"max_seq_len", c.max_seq_len},
      {"vocab_size", c.vocab_size},
      {"padded_vocab_size", c.padded_vocab_size},
      {"num_layers", c.num_layers},
      {"num_heads", c.num_heads},
      {"channels", c.channels}};
  for (const auto& [name, value] : fields) {
    if (value <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("model ", name, " must be > 0, got ", value));
    }
  }
  if (c.channels % c.num_heads != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("model channels (", c.channels,
                     ") must be a multiple of num_heads (", c.num_heads, ")"));
  }
  if (c.padded_vocab_size < c.vocab_size || c.padded_vocab_size % 128 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model padded_vocab_size (", c.padded_vocab_size,
        ") must be a multiple of 128 and >= vocab_size (", c.vocab_size, ")"));
  }
  return absl::OkStatus();
}

int PadVocab(int vocab_size) { return (vocab_size + 127) / 128 * 128; }

std::vector<std::string> GptPresetNames() {
  std::vector<std::string> names;
  for (const Preset& p : kPresets) names.push_back(p.name);
  return names;
}

absl::StatusOr<GptConfig> GptPreset(absl::string_view name) {
  for (const Preset& p : kPresets) {
    if (name == p.name) return p.config;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown model preset '", name, "': use one of ",
                   absl::StrJoin(GptPresetNames(), ", ")));
}

const char* GptTensorName(int tensor) {
  return tensor >= 0 && tensor < kNumGptTensors ? kTensorNames[tensor] : "?";
}

bool IsPerLayerTensor(int tensor) {
  return tensor >= kLn1w && tensor <= kFcprojb;
}

std::vector<int64_t> GptTensorShape(const GptConfig& c, int tensor) {
  const int64_t L = c.num_layers, C = c.channels;
  switch (tensor) {
    case kWte:
      return {c.padded_vocab_size, C};
    case kWpe:
      return {c.max_seq_len, C};
    case kQkvw:
      return {L, 3 * C, C};
    case kQkvb:
      return {L, 3 * C};
    case kAttprojw:
      return {L, C, C};
    case kFcw:
      return {L, 4 * C, C};
    case kFcb:
      return {L, 4 * C};
    case kFcprojw:
      return {L, C, 4 * C};
    case kLn1w:
    case kLn1b:
    case kAttprojb:
    case kLn2w:
    case kLn2b:
    case kFcprojb:
      return {L, C};
    case kLnfw:
    case kLnfb:
      return {C};
  }
  return {};
}

std::array<size_t, kNumGptTensors> GptTensorSizes(const GptConfig& c) {
  std::array<size_t, kNumGptTensors> sizes{};
  for (int i = 0; i < kNumGptTensors; ++i) {
    size_t n = 1;
    for (int64_t d : GptTensorShape(c, i)) n *= static_cast<size_t>(d);
    sizes[i] = n;
  }
  return sizes;
}

std::array<size_t, kNumGptTensors> GptTensorOffsets(const GptConfig& c) {
  const auto sizes = GptTensorSizes(c);
  std::array<size_t, kNumGptTensors> offsets{};
  size_t offset = 0;
  for (int i = 0; i < kNumGptTensors; ++i) {
    offsets[i] = offset;
    offset += sizes[i];
  }
  return offsets;
}

size_t GptNumParameters(const GptConfig& c) {
  size_t total = 0;
  for (size_t n : GptTensorSizes(c)) total += n;
  return total;
}

std::vector<TensorSpec> GptParameterSpecs(const GptConfig& c) {
  const float residual_std =
      0.02f / std::sqrt(2.0f * static_cast<float>(c.num_layers));
  std::vector<TensorSpec> specs;
  specs.reserve(kNumGptTensors);
  for (int i = 0; i < kNumGptTensors; ++i) {
    TensorSpec spec;
    spec.set_name(kTensorNames[i]);
    for (int64_t d : GptTensorShape(c, i)) spec.add_shape(d);
    InitRule* init = spec.mutable_init();
    switch (i) {
      case kWte:
      case kQkvw:
      case kFcw:
        init->set_kind(InitRule::NORMAL);
        init->set_std(0.02f);
        break;
      case kWpe:
        init->set_kind(InitRule::NORMAL);
        init->set_std(0.01f);
        break;
      case kAttprojw:
      case kFcprojw:
        init->set_kind(InitRule::NORMAL);
        init->set_std(residual_std);
        break;
      case kLn1w:
      case kLn2w:
      case kLnfw:
        init->set_kind(InitRule::ONES);
        break;
      default:  // biases
        init->set_kind(InitRule::ZEROS);
        break;
    }
    specs.push_back(std::move(spec));
  }
  return specs;
}

}  // namespace pserve
