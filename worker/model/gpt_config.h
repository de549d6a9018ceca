// GPT-2 model configuration, named presets, and the parameter tensor list
// (names, shapes, init rules) in llm.c's checkpoint order.
// Thread-safety: pure functions and plain structs; safe from any thread.
#ifndef PSERVE_WORKER_MODEL_GPT_CONFIG_H_
#define PSERVE_WORKER_MODEL_GPT_CONFIG_H_

#include <array>
#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/ps.pb.h"

namespace pserve {

struct GptConfig {
  int max_seq_len = 0;        // T: positions in wpe
  int vocab_size = 0;         // V: real vocabulary
  int padded_vocab_size = 0;  // Vp: V rounded up to a multiple of 128
  int num_layers = 0;         // L
  int num_heads = 0;          // NH; channels % num_heads == 0
  int channels = 0;           // C
};

bool operator==(const GptConfig& a, const GptConfig& b);
inline bool operator!=(const GptConfig& a, const GptConfig& b) {
  return !(a == b);
}

// Human-readable one-liner, e.g. "L=12 C=768 NH=12 T=1024 V=50257 Vp=50304".
std::string GptConfigString(const GptConfig& config);

// OK if every field is positive, C % NH == 0, V <= Vp and Vp % 128 == 0;
// INVALID_ARGUMENT naming the first bad field otherwise.
absl::Status ValidateGptConfig(const GptConfig& config);

// V rounded up to a multiple of 128.
int PadVocab(int vocab_size);

// Preset names accepted by GptPreset, in a stable order:
//   "tiny"      L=2  C=64  NH=4  T=64   V=256   (unit tests)
//   "small"     L=4  C=256 NH=4  T=256  V=256   (CPU demo, byte level)
//   "gpt2-124m" L=12 C=768 NH=12 T=1024 V=50257 Vp=50304
std::vector<std::string> GptPresetNames();

// The preset called `name`; INVALID_ARGUMENT listing the valid names if none.
absl::StatusOr<GptConfig> GptPreset(absl::string_view name);

// The 16 parameter tensors, in llm.c checkpoint order. Per-layer kinds are
// stacked over all layers (layer is the leading dimension).
enum GptTensor {
  kWte = 0,   // (Vp, C)
  kWpe,       // (T, C)
  kLn1w,      // (L, C)
  kLn1b,      // (L, C)
  kQkvw,      // (L, 3*C, C)
  kQkvb,      // (L, 3*C)
  kAttprojw,  // (L, C, C)
  kAttprojb,  // (L, C)
  kLn2w,      // (L, C)
  kLn2b,      // (L, C)
  kFcw,       // (L, 4*C, C)
  kFcb,       // (L, 4*C)
  kFcprojw,   // (L, C, 4*C)
  kFcprojb,   // (L, C)
  kLnfw,      // (C)
  kLnfb,      // (C)
  kNumGptTensors
};

// Names: "wte", "wpe", "ln1w", ..., "lnfb" (index by GptTensor).
const char* GptTensorName(int tensor);

// True for the tensors stacked over layers (kLn1w .. kFcprojb).
bool IsPerLayerTensor(int tensor);

// Shape of each tensor, as in the comments of GptTensor.
std::vector<int64_t> GptTensorShape(const GptConfig& config, int tensor);

// Element counts of all tensors, and their offsets in one contiguous buffer.
std::array<size_t, kNumGptTensors> GptTensorSizes(const GptConfig& config);
std::array<size_t, kNumGptTensors> GptTensorOffsets(const GptConfig& config);

// Total parameter count (sum of GptTensorSizes), including padded vocab rows.
size_t GptNumParameters(const GptConfig& config);

// The tensor list for servers, with GPT-2 initialisation: weights (wte,
// qkvw, fcw) NORMAL std 0.02; residual projections (attprojw, fcprojw)
// NORMAL std 0.02/sqrt(2L); wpe NORMAL std 0.01 (as OpenAI's GPT-2); all
// biases ZEROS; layernorm weights ONES.
std::vector<TensorSpec> GptParameterSpecs(const GptConfig& config);

}  // namespace pserve

#endif  // PSERVE_WORKER_MODEL_GPT_CONFIG_H_
