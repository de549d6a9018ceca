// Carves contiguous backend buffers into the GPT activation tensors.
// Thread-safety: pure functions.
#include "worker/model/gpt_activations.h"

namespace pserve {
namespace {

// Hands out consecutive slices of `base`; with a null base it only counts.
class Carver {
 public:
  explicit Carver(float* base) : base_(base) {}
  float* Take(size_t n) {
    float* p = base_ == nullptr ? nullptr : base_ + used_;
    used_ += n;
    return p;
  }
  size_t used() const { return used_; }

 private:
  float* base_;
  size_t used_ = 0;
};

}  // namespace

size_t LayoutActivations(const GptConfig& c, int B, int T, float* base,
                         GptActivations* a) {
  const size_t L = c.num_layers, C = c.channels, NH = c.num_heads;
  const size_t N = static_cast<size_t>(B) * T;
  Carver k(base);
  a->encoded = k.Take(N * C);
  a->ln1 = k.Take(L * N * C);
  a->ln1_mean = k.Take(L * N);
  a->ln1_rstd = k.Take(L * N);
  a->qkv = k.Take(L * N * 3 * C);
  a->atty = k.Take(L * N * C);
  a->att = k.Take(L * B * NH * T * T);
  a->attproj = k.Take(L * N * C);
  a->residual2 = k.Take(L * N * C);
  a->ln2 = k.Take(L * N * C);
  a->ln2_mean = k.Take(L * N);
  a->ln2_rstd = k.Take(L * N);
  a->fch = k.Take(L * N * 4 * C);
  a->fch_gelu = k.Take(L * N * 4 * C);
  a->fcproj = k.Take(L * N * C);
  a->residual3 = k.Take(L * N * C);
  a->lnf = k.Take(N * C);
  a->lnf_mean = k.Take(N);
  a->lnf_rstd = k.Take(N);
  a->logits = k.Take(N * c.padded_vocab_size);
  a->losses = k.Take(N);
  return k.used();
}

size_t LayoutActivationGrads(const GptConfig& c, int B, int T, float* base,
                             GptActivationGrads* g) {
  const size_t C = c.channels, NH = c.num_heads;
  const size_t N = static_cast<size_t>(B) * T;
  Carver k(base);
  g->dlogits = k.Take(N * c.padded_vocab_size);
  g->dlnf = k.Take(N * C);
  g->dres = k.Take(N * C);
  const size_t block_start = k.used();
  g->dfch_gelu = k.Take(N * 4 * C);
  g->layer_block = g->dfch_gelu;
  g->dfch = k.Take(N * 4 * C);
  g->dln2 = k.Take(N * C);
  g->datty = k.Take(N * C);
  g->dqkv = k.Take(N * 3 * C);
  g->dln1 = k.Take(N * C);
  g->layer_block_size = k.used() - block_start;
  g->datt = k.Take(static_cast<size_t>(B) * NH * T * T);
  return k.used();
}

}  // namespace pserve
