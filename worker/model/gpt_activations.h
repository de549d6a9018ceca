// Layout of the GPT activation buffers (llm.c's ActivationTensors): what
// forward keeps for backward, and the one-layer scratch that backward reuses.
// Thread-safety: plain structs and pure layout functions.
#ifndef PSERVE_WORKER_MODEL_GPT_ACTIVATIONS_H_
#define PSERVE_WORKER_MODEL_GPT_ACTIVATIONS_H_

#include <cstddef>

#include "worker/model/gpt_config.h"

namespace pserve {

// Forward activations for a (B, T) batch, N = B*T. Per-layer tensors are
// stacked over layers (layer is the leading dimension), so layer l's slice
// starts at l * (its size / L).
struct GptActivations {
  float* encoded = nullptr;    // (B, T, C)
  float* ln1 = nullptr;        // (L, B, T, C)
  float* ln1_mean = nullptr;   // (L, B, T)
  float* ln1_rstd = nullptr;   // (L, B, T)
  float* qkv = nullptr;        // (L, B, T, 3*C)
  float* atty = nullptr;       // (L, B, T, C)
  float* att = nullptr;        // (L, B, NH, T, T)
  float* attproj = nullptr;    // (L, B, T, C)
  float* residual2 = nullptr;  // (L, B, T, C)
  float* ln2 = nullptr;        // (L, B, T, C)
  float* ln2_mean = nullptr;   // (L, B, T)
  float* ln2_rstd = nullptr;   // (L, B, T)
  float* fch = nullptr;        // (L, B, T, 4*C)
  float* fch_gelu = nullptr;   // (L, B, T, 4*C)
  float* fcproj = nullptr;     // (L, B, T, C)
  float* residual3 = nullptr;  // (L, B, T, C)
  float* lnf = nullptr;        // (B, T, C)
  float* lnf_mean = nullptr;   // (B, T)
  float* lnf_rstd = nullptr;   // (B, T)
  float* logits = nullptr;     // (B, T, Vp)
  float* losses = nullptr;     // (B, T)
};

// Gradients of activations for backward. Only one layer's worth is kept:
// `layer_block` (the fields from dfch_gelu to dln1, contiguous) is zeroed
// before each layer's backward and reused by the next. The residual stream's
// gradient lives in `dres` alone: a residual add passes its output gradient
// through unchanged, so each layer's backward reads dres as the gradient of
// its output and leaves the gradient of its input in it.
struct GptActivationGrads {
  float* dlogits = nullptr;      // (B, T, Vp)
  float* dlnf = nullptr;         // (B, T, C)
  float* dres = nullptr;         // (B, T, C) residual stream
  float* layer_block = nullptr;  // start of the per-layer block below
  size_t layer_block_size = 0;   // floats in the per-layer block
  float* dfch_gelu = nullptr;    // (B, T, 4*C)
  float* dfch = nullptr;         // (B, T, 4*C)
  float* dln2 = nullptr;         // (B, T, C)
  float* datty = nullptr;        // (B, T, C)
  float* dqkv = nullptr;         // (B, T, 3*C)
  float* dln1 = nullptr;         // (B, T, C)
  float* datt = nullptr;         // (B, NH, T, T) scratch, never zeroed
};

// Carves `base` into the activation tensors for batch (B, T) and returns the
// number of floats used. With base == nullptr it only returns the count
// (and leaves `out`'s pointers null).
size_t LayoutActivations(const GptConfig& config, int B, int T, float* base,
                         GptActivations* out);
size_t LayoutActivationGrads(const GptConfig& config, int B, int T, float* base,
                             GptActivationGrads* out);

}  // namespace pserve

#endif  // PSERVE_WORKER_MODEL_GPT_ACTIVATIONS_H_
