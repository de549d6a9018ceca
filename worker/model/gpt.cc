// GPT-2 forward and backward as a sequence of backend ops (llm.c's
// gpt2_forward / gpt2_backward). Thread-safety: see gpt.h (single thread).
#include "worker/model/gpt.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace pserve {

absl::StatusOr<std::unique_ptr<Gpt>> Gpt::Create(const GptConfig& config,
                                                 Backend* backend) {
  if (backend == nullptr) {
    return absl::InvalidArgumentError("Gpt::Create needs a backend");
  }
  if (absl::Status s = ValidateGptConfig(config); !s.ok()) return s;
  return std::unique_ptr<Gpt>(new Gpt(config, backend));
}

Gpt::Gpt(const GptConfig& config, Backend* backend)
    : config_(config),
      backend_(backend),
      sizes_(GptTensorSizes(config)),
      offsets_(GptTensorOffsets(config)),
      num_parameters_(GptNumParameters(config)) {
  params_ = backend_->Alloc(num_parameters_);
  grads_ = backend_->Alloc(num_parameters_);
}

Gpt::~Gpt() {
  for (void* p :
       {static_cast<void*>(params_), static_cast<void*>(grads_),
        static_cast<void*>(acts_buffer_), static_cast<void*>(grad_acts_buffer_),
        static_cast<void*>(inputs_), static_cast<void*>(targets_)}) {
    if (p != nullptr) backend_->Free(p);
  }
}

std::vector<TensorSlice> Gpt::LayerSlices(int layer) const {
  std::vector<TensorSlice> slices;
  if (layer < 0) {
    for (int t : {kWte, kWpe, kLnfw, kLnfb})
      slices.push_back({t, 0, sizes_[t]});
    return slices;
  }
  for (int t = kLn1w; t <= kFcprojb; ++t) {
    const size_t per_layer = sizes_[t] / config_.num_layers;
    slices.push_back({t, layer * per_layer, per_layer});
  }
  return slices;
}

void Gpt::SetParameters(const float* host) {
  backend_->CopyFromHost(params_, host, num_parameters_);
}

void Gpt::GetParameters(float* host) {
  backend_->CopyToHost(host, params_, num_parameters_);
}

void Gpt::GetGradients(float* host) {
  backend_->CopyToHost(host, grads_, num_parameters_);
}

void Gpt::GetLogits(float* host) {
  backend_->CopyToHost(
      host, acts_.logits,
      static_cast<size_t>(B_) * T_ * config_.padded_vocab_size);
}

void Gpt::GetLogitsAt(int b, int t, float* host) {
  const size_t Vp = config_.padded_vocab_size;
  backend_->CopyToHost(
      host, acts_.logits + (static_cast<size_t>(b) * T_ + t) * Vp, Vp);
}

void Gpt::EnsureActivations(int B, int T) {
  const size_t n_tokens = static_cast<size_t>(B) * T;
  if (n_tokens > tokens_capacity_) {
    if (inputs_ != nullptr) backend_->Free(inputs_);
    if (targets_ != nullptr) backend_->Free(targets_);
    inputs_ = backend_->AllocInt(n_tokens);
    targets_ = backend_->AllocInt(n_tokens);
    tokens_capacity_ = n_tokens;
  }
  const size_t needed = LayoutActivations(config_, B, T, nullptr, &acts_);
  if (needed > acts_capacity_) {
    if (acts_buffer_ != nullptr) backend_->Free(acts_buffer_);
    acts_buffer_ = backend_->Alloc(needed);
    acts_capacity_ = needed;
  }
  LayoutActivations(config_, B, T, acts_buffer_, &acts_);
  host_losses_.resize(n_tokens);
  B_ = B;
  T_ = T;
}

void Gpt::EnsureActivationGrads() {
  const size_t needed =
      LayoutActivationGrads(config_, B_, T_, nullptr, &grad_acts_);
  if (needed > grad_acts_capacity_) {
    if (grad_acts_buffer_ != nullptr) backend_->Free(grad_acts_buffer_);
    grad_acts_buffer_ = backend_->Alloc(needed);
    grad_acts_capacity_ = needed;
  }
  LayoutActivationGrads(config_, B_, T_, grad_acts_buffer_, &grad_acts_);
}

absl::StatusOr<float> Gpt::Forward(const int32_t* inputs,
                                   const int32_t* targets, int B, int T,
                                   const LayerCallback& before_layer) {
  if (B < 1 || T < 1 || T > config_.max_seq_len) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Gpt::Forward needs B >= 1 and 1 <= T <= ", config_.max_seq_len,
        ", got B=", B, " T=", T));
  }
  const size_t n = static_cast<size_t>(B) * T;
  const int V = config_.vocab_size;
  for (size_t i = 0; i < n; ++i) {
    if (inputs[i] < 0 || inputs[i] >= V ||
        (targets != nullptr && (targets[i] < 0 || targets[i] >= V))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "token ", (inputs[i] < 0 || inputs[i] >= V) ? inputs[i] : targets[i],
          " at position ", i, " is outside the vocabulary [0, ", V, ")"));
    }
  }
  have_targets_ = false;
  EnsureActivations(B, T);
  const int C = config_.channels, L = config_.num_layers;
  backend_->CopyIntFromHost(inputs_, inputs, n);
  if (before_layer) before_layer(-1);
  backend_->EncoderForward(acts_.encoded, inputs_, param(kWte), param(kWpe), B,
                           T, C);
  for (int l = 0; l < L; ++l) {
    if (before_layer) before_layer(l);
    LayerForward(l);
  }
  if (before_layer) before_layer(L);
  const float* last_residual = acts_.residual3 + (L - 1) * n * C;
  backend_->LayerNormForward(acts_.lnf, acts_.lnf_mean, acts_.lnf_rstd,
                             last_residual, param(kLnfw), param(kLnfb), n, C);
  backend_->MatmulForward(acts_.logits, acts_.lnf, param(kWte), nullptr, n, C,
                          config_.padded_vocab_size);
  if (targets == nullptr) return 0.0f;

  backend_->CopyIntFromHost(targets_, targets, n);
  backend_->SoftmaxCrossEntropy(acts_.losses, nullptr, acts_.logits, targets_,
                                B, T, V, config_.padded_vocab_size,
                                1.0f / static_cast<float>(n));
  backend_->CopyToHost(host_losses_.data(), acts_.losses, n);
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) sum += host_losses_[i];
  have_targets_ = true;
  return static_cast<float>(sum / static_cast<double>(n));
}

void Gpt::LayerForward(int l) {
  const int B = B_, T = T_, C = config_.channels, NH = config_.num_heads;
  const size_t N = static_cast<size_t>(B) * T, NC = N * C;
  GptActivations& a = acts_;
  const float* residual = l == 0 ? a.encoded : a.residual3 + (l - 1) * NC;
  float* ln1 = a.ln1 + l * NC;                                   // (B, T, C)
  float* ln1_mean = a.ln1_mean + l * N;                          // (B, T)
  float* ln1_rstd = a.ln1_rstd + l * N;                          // (B, T)
  float* qkv = a.qkv + l * 3 * NC;                               // (B, T, 3C)
  float* atty = a.atty + l * NC;                                 // (B, T, C)
  float* att = a.att + static_cast<size_t>(l) * B * NH * T * T;  // (B,NH,T,T)
  float* attproj = a.attproj + l * NC;                           // (B, T, C)
  float* residual2 = a.residual2 + l * NC;                       // (B, T, C)
  float* ln2 = a.ln2 + l * NC;                                   // (B, T, C)
  float* ln2_mean = a.ln2_mean + l * N;                          // (B, T)
  float* ln2_rstd = a.ln2_rstd + l * N;                          // (B, T)
  float* fch = a.fch + l * 4 * NC;                               // (B, T, 4C)
  float* fch_gelu = a.fch_gelu + l * 4 * NC;                     // (B, T, 4C)
  float* fcproj = a.fcproj + l * NC;                             // (B, T, C)
  float* residual3 = a.residual3 + l * NC;                       // (B, T, C)
  const size_t c = C;
  Backend* k = backend_;
  k->LayerNormForward(ln1, ln1_mean, ln1_rstd, residual, param(kLn1w) + l * c,
                      param(kLn1b) + l * c, N, C);
  k->MatmulForward(qkv, ln1, param(kQkvw) + l * 3 * c * c,
                   param(kQkvb) + l * 3 * c, N, C, 3 * C);
  k->AttentionForward(atty, att, qkv, B, T, C, NH);
  k->MatmulForward(attproj, atty, param(kAttprojw) + l * c * c,
                   param(kAttprojb) + l * c, N, C, C);
  k->ResidualForward(residual2, residual, attproj, NC);
  k->LayerNormForward(ln2, ln2_mean, ln2_rstd, residual2, param(kLn2w) + l * c,
                      param(kLn2b) + l * c, N, C);
  k->MatmulForward(fch, ln2, param(kFcw) + l * 4 * c * c,
                   param(kFcb) + l * 4 * c, N, C, 4 * C);
  k->GeluForward(fch_gelu, fch, 4 * NC);
  k->MatmulForward(fcproj, fch_gelu, param(kFcprojw) + l * 4 * c * c,
                   param(kFcprojb) + l * c, N, 4 * C, C);
  k->ResidualForward(residual3, residual2, fcproj, NC);
}

absl::Status Gpt::Backward(const LayerCallback& on_layer) {
  if (!have_targets_) {
    return absl::FailedPreconditionError(
        "Gpt::Backward needs a Forward with targets first");
  }
  EnsureActivationGrads();
  const int B = B_, T = T_, C = config_.channels, L = config_.num_layers;
  const int Vp = config_.padded_vocab_size;
  const size_t N = static_cast<size_t>(B) * T, NC = N * C;
  GptActivationGrads& g = grad_acts_;
  Backend* k = backend_;
  k->Zero(grads_, num_parameters_);
  k->Zero(g.dlnf, NC);
  k->Zero(g.dres, NC);
  k->SoftmaxCrossEntropy(acts_.losses, g.dlogits, acts_.logits, targets_, B, T,
                         config_.vocab_size, Vp, 1.0f / static_cast<float>(N));
  k->MatmulBackward(g.dlnf, grad(kWte), nullptr, g.dlogits, acts_.lnf,
                    param(kWte), N, C, Vp);
  k->LayerNormBackward(g.dres, grad(kLnfw), grad(kLnfb), g.dlnf,
                       acts_.residual3 + (L - 1) * NC, param(kLnfw),
                       acts_.lnf_mean, acts_.lnf_rstd, N, C);
  for (int l = L - 1; l >= 0; --l) {
    k->Zero(g.layer_block, g.layer_block_size);
    LayerBackward(l, g.dres);
    if (on_layer) on_layer(l);
  }
  // dres now holds the gradient of the encoder output.
  k->EncoderBackward(grad(kWte), grad(kWpe), g.dres, inputs_, B, T, C);
  if (on_layer) on_layer(-1);
  return absl::OkStatus();
}

void Gpt::LayerBackward(int l, float* dres) {
  const int B = B_, T = T_, C = config_.channels, NH = config_.num_heads;
  const size_t N = static_cast<size_t>(B) * T, NC = N * C, c = C;
  const GptActivations& a = acts_;
  GptActivationGrads& g = grad_acts_;
  Backend* k = backend_;
  const float* residual = l == 0 ? a.encoded : a.residual3 + (l - 1) * NC;
  const float* ln1 = a.ln1 + l * NC;
  const float* qkv = a.qkv + l * 3 * NC;
  const float* atty = a.atty + l * NC;
  const float* att = a.att + static_cast<size_t>(l) * B * NH * T * T;
  const float* residual2 = a.residual2 + l * NC;
  const float* ln2 = a.ln2 + l * NC;
  const float* fch = a.fch + l * 4 * NC;
  const float* fch_gelu = a.fch_gelu + l * 4 * NC;

  // residual3 = residual2 + fcproj: dres is d(fcproj) and, once ln2's
  // backward has added into it, d(residual2).
  k->MatmulBackward(g.dfch_gelu, grad(kFcprojw) + l * 4 * c * c,
                    grad(kFcprojb) + l * c, dres, fch_gelu,
                    param(kFcprojw) + l * 4 * c * c, N, 4 * C, C);
  k->GeluBackward(g.dfch, fch, g.dfch_gelu, 4 * NC);
  k->MatmulBackward(g.dln2, grad(kFcw) + l * 4 * c * c, grad(kFcb) + l * 4 * c,
                    g.dfch, ln2, param(kFcw) + l * 4 * c * c, N, C, 4 * C);
  k->LayerNormBackward(dres, grad(kLn2w) + l * c, grad(kLn2b) + l * c, g.dln2,
                       residual2, param(kLn2w) + l * c, a.ln2_mean + l * N,
                       a.ln2_rstd + l * N, N, C);
  // residual2 = residual + attproj: dres is d(attproj) and, once ln1's
  // backward has added into it, d(residual), the layer input's gradient.
  k->MatmulBackward(g.datty, grad(kAttprojw) + l * c * c,
                    grad(kAttprojb) + l * c, dres, atty,
                    param(kAttprojw) + l * c * c, N, C, C);
  k->AttentionBackward(g.dqkv, g.datt, g.datty, qkv, att, B, T, C, NH);
  k->MatmulBackward(g.dln1, grad(kQkvw) + l * 3 * c * c,
                    grad(kQkvb) + l * 3 * c, g.dqkv, ln1,
                    param(kQkvw) + l * 3 * c * c, N, C, 3 * C);
  k->LayerNormBackward(dres, grad(kLn1w) + l * c, grad(kLn1b) + l * c, g.dln1,
                       residual, param(kLn1w) + l * c, a.ln1_mean + l * N,
                       a.ln1_rstd + l * N, N, C);
}

}  // namespace pserve
