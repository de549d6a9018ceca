// Reader for tests/reference/gpt_reference.bin, the PyTorch reference that
// tests/reference/make_reference.py writes (its docstring has the format).
// Thread-safety: a free function and a plain struct.
#ifndef PSERVE_WORKER_MODEL_GPT_REFERENCE_H_
#define PSERVE_WORKER_MODEL_GPT_REFERENCE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/model/gpt_config.h"

namespace pserve {

// File layout (little-endian; P = GptNumParameters(config)):
//   int32[16]   magic 20240913, version 1, B, T, maxT, V, Vp, L, NH, C,
//               num_steps, 5 zeros
//   float32[8]  AdamW lr, beta1, beta2, eps, weight_decay, 3 zeros
//   int32[B*T]  inputs; int32[B*T] targets
//   float32[P]  params (llm.c order); float32[B*T*Vp] logits
//   float32[1]  loss;  float32[P] grads (llm.c order)
//   float32[num_steps] losses after 0..num_steps-1 AdamW updates
struct GptReference {
  GptConfig config;
  int B = 0, T = 0;
  float lr = 0, beta1 = 0, beta2 = 0, eps = 0, weight_decay = 0;
  std::vector<int32_t> inputs;   // (B, T)
  std::vector<int32_t> targets;  // (B, T)
  std::vector<float> params;     // (P)
  std::vector<float> logits;     // (B, T, Vp)
  float loss = 0;
  std::vector<float> grads;        // (P)
  std::vector<float> step_losses;  // (num_steps)
};

inline constexpr int kGptReferenceMagic = 20240913;

// Reads the file at `path`. NOT_FOUND if it cannot be opened; DATA_LOSS for
// a bad magic or version, an invalid config, or a short or long file.
absl::StatusOr<GptReference> ReadGptReference(const std::string& path);

}  // namespace pserve

#endif  // PSERVE_WORKER_MODEL_GPT_REFERENCE_H_
