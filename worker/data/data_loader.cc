// Deterministic, partition-exact batch loader; see data_loader.h.
// Thread-safety: not thread-safe per object; the shared tokens are const.
#include "worker/data/data_loader.h"

#include <numeric>
#include <utility>

#include "absl/strings/str_cat.h"
#include "worker/data/shuffle.h"
#include "worker/data/token_shard.h"

namespace pserve {

absl::StatusOr<DataLoader> DataLoader::Open(const std::string& path, int B,
                                            int T, int rank, int num_workers,
                                            uint64_t seed, int vocab_size) {
  return OpenImpl(path, B, T, rank, num_workers, seed, vocab_size, true);
}

absl::StatusOr<DataLoader> DataLoader::OpenSequential(const std::string& path,
                                                      int B, int T, int rank,
                                                      int num_workers,
                                                      int vocab_size) {
  return OpenImpl(path, B, T, rank, num_workers, 0, vocab_size, false);
}

absl::StatusOr<DataLoader> DataLoader::OpenImpl(const std::string& path, int B,
                                                int T, int rank,
                                                int num_workers, uint64_t seed,
                                                int vocab_size, bool shuffle) {
  if (B < 1 || T < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("data loader for ", path, ": batch size B=", B,
                     " and sequence length T=", T, " must both be >= 1"));
  }
  if (num_workers < 1 || rank < 0 || rank >= num_workers) {
    return absl::InvalidArgumentError(
        absl::StrCat("data loader for ", path, ": rank ", rank,
                     " is outside [0, num_workers=", num_workers, ")"));
  }
  absl::StatusOr<std::vector<uint16_t>> tokens =
      ReadTokenShard(path, vocab_size);
  if (!tokens.ok()) return tokens.status();

  DataLoader d;
  d.B_ = B;
  d.T_ = T;
  d.rank_ = rank;
  d.num_workers_ = num_workers;
  d.seed_ = seed;
  d.shuffle_ = shuffle;
  const int64_t n = static_cast<int64_t>(tokens->size());
  d.num_rows_ = n > 0 ? (n - 1) / T : 0;
  const int64_t global_rows = static_cast<int64_t>(B) * num_workers;
  d.steps_per_epoch_ = d.num_rows_ / global_rows;
  if (d.steps_per_epoch_ == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "token shard ", path, " is too small: ", n, " tokens make ",
        d.num_rows_, " rows of T+1=", T + 1, " tokens, but one global batch ",
        "needs W*B=", num_workers, "*", B, "=", global_rows, " rows (",
        global_rows * T + 1, " tokens); use more data or a smaller B or T"));
  }
  d.tokens_ =
      std::make_shared<const std::vector<uint16_t>>(std::move(tokens).value());
  d.BuildOrder();
  return d;
}

void DataLoader::BuildOrder() {
  order_.resize(static_cast<size_t>(num_rows_));
  std::iota(order_.begin(), order_.end(), int64_t{0});
  if (shuffle_) DeterministicShuffle(order_, MixSeed(seed_, epoch_));
}

void DataLoader::NextBatch(int32_t* inputs, int32_t* targets) {
  const std::vector<uint16_t>& tokens = *tokens_;
  const int64_t first = step_ * B_ * static_cast<int64_t>(num_workers_) +
                        static_cast<int64_t>(rank_) * B_;
  for (int b = 0; b < B_; ++b) {
    const int64_t start = order_[static_cast<size_t>(first + b)] * T_;
    const uint16_t* src = tokens.data() + start;
    int32_t* in = inputs + static_cast<int64_t>(b) * T_;
    int32_t* tg = targets + static_cast<int64_t>(b) * T_;
    for (int t = 0; t < T_; ++t) {
      in[t] = src[t];
      tg[t] = src[t + 1];
    }
  }
  if (++step_ == steps_per_epoch_) {
    step_ = 0;
    ++epoch_;
    if (shuffle_) BuildOrder();
  }
}

void DataLoader::Reset() { Seek(0); }

void DataLoader::Seek(int64_t global_step) {
  if (global_step < 0) global_step = 0;
  const int64_t epoch = global_step / steps_per_epoch_;
  step_ = global_step % steps_per_epoch_;
  if (epoch != epoch_ || order_.empty()) {
    epoch_ = epoch;
    BuildOrder();
  }
}

}  // namespace pserve
