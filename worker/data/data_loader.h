// Batches of (inputs, targets) from an llm.c token shard for data-parallel
// training: worker w of W gets, at every step, exactly rows w*B..(w+1)*B-1
// of the global batch that one worker with batch W*B would get.
// Thread-safety: not thread-safe; use one DataLoader per thread. Copies are
// cheap (the tokens are shared, read-only) and independent.
#ifndef PSERVE_WORKER_DATA_DATA_LOADER_H_
#define PSERVE_WORKER_DATA_DATA_LOADER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace pserve {

// Rows and order. With n tokens the shard has R = (n - 1) / T rows; row r
// is the T + 1 tokens starting at r * T (inputs are tokens [r*T, r*T+T),
// targets the same shifted by one), so inputs never overlap and every
// token but the last is an input once per epoch, as in llm.c.
// Training order: epoch e visits the rows in a Fisher-Yates permutation
// driven by SplitMix64(MixSeed(seed, e)); global step s takes permuted rows
// [s*W*B, (s+1)*W*B) and worker w the B rows at offset w*B within it. An
// epoch has R / (W*B) steps; the leftover rows are skipped and the next
// epoch reshuffles. Sequential order (OpenSequential, for evaluation) is
// the identity permutation, every epoch.
class DataLoader {
 public:
  // Opens the shard at `path` for worker `rank` of `num_workers`, batch
  // `B` rows of `T` positions, shuffled from `seed`; every token must be
  // < `vocab_size`. Returns the shard's errors (see ReadTokenShard:
  // NOT_FOUND, INVALID_ARGUMENT, DATA_LOSS), INVALID_ARGUMENT for B, T,
  // rank or num_workers out of range, FAILED_PRECONDITION when the shard
  // has fewer rows than one global batch (W*B); one line each, naming the
  // file. Blocks while it reads the whole shard.
  static absl::StatusOr<DataLoader> Open(const std::string& path, int B, int T,
                                         int rank, int num_workers,
                                         uint64_t seed, int vocab_size);

  // Like Open, but rows come in file order every epoch (no shuffle), so an
  // evaluation pass of steps_per_epoch() batches after Reset() always sees
  // the same rows, split across workers the same way as training.
  static absl::StatusOr<DataLoader> OpenSequential(const std::string& path,
                                                   int B, int T, int rank,
                                                   int num_workers,
                                                   int vocab_size);

  // Fills inputs[b*T + t] and targets[b*T + t] (each B*T int32, row-major
  // (B, T)) with this worker's rows of the current step, then advances one
  // step, moving to the next epoch (and reshuffling) after the last step of
  // an epoch. Never fails; never blocks.
  void NextBatch(int32_t* inputs, int32_t* targets);

  // Goes back to epoch 0, step 0. Never blocks.
  void Reset();

  // Positions the loader so that the next NextBatch returns global step
  // `global_step` (counted from epoch 0, step 0), e.g. to resume training.
  // `global_step` must be >= 0. Never blocks.
  void Seek(int64_t global_step);

  // Accessors below never fail and never block.
  // Epoch of the next NextBatch (0 first).
  int64_t epoch() const { return epoch_; }
  // Step within the current epoch of the next NextBatch.
  int64_t step_in_epoch() const { return step_; }
  // Global steps per epoch: rows / (W*B), the same on every worker.
  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  // Rows of T+1 tokens in the shard, and tokens in it.
  int64_t num_rows() const { return num_rows_; }
  int64_t num_tokens() const { return static_cast<int64_t>(tokens_->size()); }
  // This worker's B and the sequence length T.
  int batch_size() const { return B_; }
  int seq_len() const { return T_; }

 private:
  DataLoader() = default;
  static absl::StatusOr<DataLoader> OpenImpl(const std::string& path, int B,
                                             int T, int rank, int num_workers,
                                             uint64_t seed, int vocab_size,
                                             bool shuffle);
  void BuildOrder();

  std::shared_ptr<const std::vector<uint16_t>> tokens_;
  int B_ = 0;
  int T_ = 0;
  int rank_ = 0;
  int num_workers_ = 1;
  uint64_t seed_ = 0;
  bool shuffle_ = true;
  int64_t num_rows_ = 0;
  int64_t steps_per_epoch_ = 0;
  int64_t epoch_ = 0;
  int64_t step_ = 0;
  std::vector<int64_t> order_;  // Row order of the current epoch.
};

}  // namespace pserve

#endif  // PSERVE_WORKER_DATA_DATA_LOADER_H_
