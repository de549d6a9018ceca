// Validation loss over fixed batches. Not thread-safe (see evaluator.h).
#include "worker/evaluator.h"

#include <algorithm>
#include <utility>

namespace pserve {

Evaluator::Evaluator(DataLoader loader, int num_batches)
    : loader_(std::move(loader)), num_batches_(num_batches) {
  const size_t n = static_cast<size_t>(loader_.batch_size()) *
                   static_cast<size_t>(loader_.seq_len());
  inputs_.resize(n);
  targets_.resize(n);
}

absl::StatusOr<Evaluator> Evaluator::Open(const std::string& path, int B, int T,
                                          int vocab_size, int num_batches) {
  absl::StatusOr<DataLoader> loader = DataLoader::OpenSequential(
      path, B, T, /*rank=*/0, /*num_workers=*/1, vocab_size);
  if (!loader.ok()) return loader.status();
  const int64_t available = loader->steps_per_epoch();
  const int batches =
      static_cast<int>(std::min<int64_t>(num_batches, available));
  return Evaluator(std::move(*loader), batches);
}

absl::StatusOr<double> Evaluator::Evaluate(Gpt* model) {
  loader_.Reset();
  double sum = 0.0;
  for (int i = 0; i < num_batches_; ++i) {
    loader_.NextBatch(inputs_.data(), targets_.data());
    absl::StatusOr<float> loss =
        model->Forward(inputs_.data(), targets_.data(), loader_.batch_size(),
                       loader_.seq_len());
    if (!loss.ok()) return loss.status();
    sum += *loss;
  }
  return num_batches_ > 0 ? sum / num_batches_ : 0.0;
}

}  // namespace pserve
