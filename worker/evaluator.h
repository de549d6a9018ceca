// Validation loss of a Gpt over a fixed set of batches: the first N batches
// of a token shard in file order (DataLoader::OpenSequential as one worker
// of one), so every rank and every evaluation sees the same rows, as
// tests/reference/make_reference.py's `eval` reads them.
// Thread-safety: not thread-safe; use from the thread that owns the model.
#ifndef PSERVE_WORKER_EVALUATOR_H_
#define PSERVE_WORKER_EVALUATOR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/data/data_loader.h"
#include "worker/model/gpt.h"

namespace pserve {

class Evaluator {
 public:
  // Opens the shard at `path` for batches of B rows of T tokens (every
  // token < vocab_size) and uses min(num_batches, batches in the shard).
  // Errors are DataLoader::OpenSequential's (NOT_FOUND, INVALID_ARGUMENT,
  // DATA_LOSS, FAILED_PRECONDITION when the shard has fewer than B rows),
  // one line naming the file. Blocks while it reads the shard.
  static absl::StatusOr<Evaluator> Open(const std::string& path, int B, int T,
                                        int vocab_size, int num_batches);

  // Mean of the per-batch mean losses of `model` (its current parameters)
  // over the evaluation batches. Errors are Gpt::Forward's. Blocks while it
  // computes.
  absl::StatusOr<double> Evaluate(Gpt* model);

  int num_batches() const { return num_batches_; }

 private:
  explicit Evaluator(DataLoader loader, int num_batches);

  DataLoader loader_;
  int num_batches_;
  std::vector<int32_t> inputs_, targets_;
};

}  // namespace pserve

#endif  // PSERVE_WORKER_EVALUATOR_H_
