// The GPT-2 model on a compute backend (llm.c style): one contiguous
// parameter buffer and one gradient buffer in backend memory, activations
// allocated once per batch shape and reused. Includes gpt_config.h.
// Thread-safety: a Gpt is not thread-safe; use it from one thread (the one
// that owns its Backend). The backward callback runs on that thread.
#ifndef PSERVE_WORKER_MODEL_GPT_H_
#define PSERVE_WORKER_MODEL_GPT_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/ops.h"
#include "worker/model/gpt_activations.h"
#include "worker/model/gpt_config.h"

namespace pserve {

// A contiguous range of one parameter tensor: elements
// [offset, offset + size) of tensor `tensor` (a GptTensor index).
struct TensorSlice {
  int tensor = 0;
  size_t offset = 0;
  size_t size = 0;
};

class Gpt {
 public:
  // Called during Backward with layer = L-1, ..., 0 as soon as that layer's
  // gradients are final, then once with layer = -1 for wte, wpe, lnfw, lnfb.
  // On an asynchronous backend the gradients are final in stream order:
  // Backend::CopyToHost (or GetGradients) from the callback sees them.
  using LayerCallback = std::function<void(int layer)>;

  // A model of `config` on `backend` (not owned; must outlive the model).
  // Parameters start at zero. INVALID_ARGUMENT if the config is invalid.
  static absl::StatusOr<std::unique_ptr<Gpt>> Create(const GptConfig& config,
                                                     Backend* backend);
  ~Gpt();
  Gpt(const Gpt&) = delete;
  Gpt& operator=(const Gpt&) = delete;

  const GptConfig& config() const { return config_; }
  Backend* backend() const { return backend_; }
  size_t num_parameters() const { return num_parameters_; }

  // Backend pointers to tensor `tensor`'s parameters / gradients (GptTensor
  // index), its element count and its offset in the flat buffers.
  float* param(int tensor) { return params_ + offsets_[tensor]; }
  float* grad(int tensor) { return grads_ + offsets_[tensor]; }
  size_t tensor_size(int tensor) const { return sizes_[tensor]; }
  size_t tensor_offset(int tensor) const { return offsets_[tensor]; }
  // The whole flat buffers (num_parameters floats, llm.c order).
  float* params() { return params_; }
  float* grads() { return grads_; }

  // The gradient slices that become final at callback `layer`: for layer
  // l in [0, L) the l-th slice of every per-layer tensor; for -1 the whole
  // wte, wpe, lnfw and lnfb.
  std::vector<TensorSlice> LayerSlices(int layer) const;

  // Host copies of the flat buffers (num_parameters floats each).
  void SetParameters(const float* host);
  void GetParameters(float* host);
  void GetGradients(float* host);

  // Runs the model on inputs (B, T) of token ids (host memory). With
  // targets (B, T, host memory, may be null) returns the mean cross-entropy
  // loss and enables Backward; without, returns 0 and disables it.
  // Activations are reallocated only when B*T grows past earlier batches.
  // INVALID_ARGUMENT if B < 1, T < 1, T > max_seq_len or a token is outside
  // [0, vocab_size).
  // `before_layer` (may be empty) is called on the calling thread before
  // the first read of each group of parameters: with -1 before the encoder
  // (wte, wpe), with l in [0, L) before layer l (the l-th slice of every
  // per-layer tensor) and with L before the final layer norm and the logits
  // (lnfw, lnfb; wte again), so parameters may still be arriving for the
  // layers above while the lower ones run.
  absl::StatusOr<float> Forward(const int32_t* inputs, const int32_t* targets,
                                int B, int T,
                                const LayerCallback& before_layer = nullptr);

  // Gradients of the last Forward's mean loss into grads (zeroed first).
  // Calls `on_layer` (may be empty) as described at LayerCallback.
  // FAILED_PRECONDITION unless the last Forward had targets.
  absl::Status Backward(const LayerCallback& on_layer = nullptr);

  // Logits (B, T, Vp) of the last Forward, in backend memory, and its shape.
  const float* logits() const { return acts_.logits; }
  int batch_size() const { return B_; }
  int seq_len() const { return T_; }
  // Host copy of the last Forward's logits (B*T*Vp floats).
  void GetLogits(float* host);
  // Host copy of the Vp logits at row b, position t of the last Forward
  // (for sampling); requires 0 <= b < batch_size(), 0 <= t < seq_len().
  void GetLogitsAt(int b, int t, float* host);

 private:
  Gpt(const GptConfig& config, Backend* backend);
  void EnsureActivations(int B, int T);
  void EnsureActivationGrads();
  void LayerForward(int l);
  // dres (B,T,C): gradient of layer l's output in, of its input out.
  void LayerBackward(int l, float* dres);

  GptConfig config_;
  Backend* backend_;
  std::array<size_t, kNumGptTensors> sizes_{};
  std::array<size_t, kNumGptTensors> offsets_{};
  size_t num_parameters_ = 0;
  float* params_ = nullptr;  // (num_parameters) llm.c order
  float* grads_ = nullptr;   // (num_parameters) llm.c order

  int B_ = 0, T_ = 0;              // shape of the last Forward
  size_t acts_capacity_ = 0;       // floats in acts_buffer_
  size_t grad_acts_capacity_ = 0;  // floats in grad_acts_buffer_
  size_t tokens_capacity_ = 0;     // ints in inputs_ / targets_
  float* acts_buffer_ = nullptr;
  float* grad_acts_buffer_ = nullptr;
  int32_t* inputs_ = nullptr;   // (B, T)
  int32_t* targets_ = nullptr;  // (B, T)
  GptActivations acts_;
  GptActivationGrads grad_acts_;
  std::vector<float> host_losses_;  // (B, T)
  bool have_targets_ = false;
};

}  // namespace pserve

#endif  // PSERVE_WORKER_MODEL_GPT_H_
