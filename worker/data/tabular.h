// Tabular data files (train.tab / val.tab from ps_prepare) and the
// data-parallel row batcher that MLP workers read them with.
// Thread-safety: free functions and value types with no shared state; one
// TabularBatcher per worker thread.
//
// File layout, all little-endian (docs/formats.md):
//   int32 magic 20261202, int32 version 1, int64 rows N, int32 features F,
//   int32 task (0 classification, 1 regression), int32 classes K (>= 2 for
//   classification, 0 for regression), int32 normalize (0 none, 1 standard,
//   2 minmax), then float32 arrays:
//   feature_shift (F), feature_scale (F), target_shift, target_scale,
//   class_labels (K: the original label of class k), features (N, F)
//   normalised as (x - shift) / scale, targets (N): the class index 0..K-1,
//   or the regression target normalised as (y - shift) / scale.
#ifndef PSERVE_WORKER_DATA_TABULAR_H_
#define PSERVE_WORKER_DATA_TABULAR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace pserve {

inline constexpr int32_t kTabularMagic = 20261202;
inline constexpr int32_t kTabularVersion = 1;

enum class TabularTask : int32_t { kClassification = 0, kRegression = 1 };
enum class Normalization : int32_t { kNone = 0, kStandard = 1, kMinMax = 2 };

// "classification" / "regression"; "standard" / "minmax" / "none".
const char* TaskName(TabularTask task);
const char* NormalizationName(Normalization n);

struct TabularData {
  TabularTask task = TabularTask::kClassification;
  Normalization normalize = Normalization::kStandard;
  int num_features = 0;              // F
  int num_classes = 0;               // K; 0 for regression
  std::vector<float> feature_shift;  // (F) mean or min of train rows
  std::vector<float> feature_scale;  // (F) std or max - min (never 0)
  float target_shift = 0;            // regression: train mean
  float target_scale = 1;            // regression: train std
  std::vector<float> class_labels;   // (K) original label values
  std::vector<float> features;       // (N, F) normalised
  std::vector<float> targets;        // (N) class index or target
  int64_t rows() const { return static_cast<int64_t>(targets.size()); }
  // Output width of a model for this data: K, or 1 for regression.
  int num_outputs() const {
    return task == TabularTask::kRegression ? 1 : num_classes;
  }
};

// Writes `data` to `path` atomically. INVALID_ARGUMENT if the arrays'
// sizes disagree; INTERNAL on I/O errors; one line naming the file. Blocks.
absl::Status WriteTabular(const std::string& path, const TabularData& data);

// Reads and validates the file at `path`. NOT_FOUND (missing),
// INVALID_ARGUMENT (bad magic, version, task, counts, a class index out of
// range, a non-finite value), DATA_LOSS (truncated or trailing bytes); one
// line naming the file. Blocks on disk I/O.
absl::StatusOr<TabularData> ReadTabular(const std::string& path);

// Deals rows of one TabularData to the W workers of a job.
//   batch_size B > 0 (mini-batch): step t's global batch is the W*B
//     positions [t*W*B, (t+1)*W*B) of an endless stream that visits every
//     row once per epoch, in an order reshuffled each epoch from (seed,
//     epoch); worker w takes positions t*W*B + w*B .. + B. So W workers with
//     B rows each see exactly the rows one worker with W*B rows sees.
//   batch_size 0 (full batch): worker w owns the fixed contiguous shard
//     [w*N/W, (w+1)*N/W) and every step returns all of it.
class TabularBatcher {
 public:
  // INVALID_ARGUMENT if the shard would be empty (N < W) or B < 0.
  static absl::StatusOr<TabularBatcher> Create(const TabularData* data,
                                               int batch_size, int rank,
                                               int num_workers, uint64_t seed);
  // Rows per step on this worker (B, or this worker's shard size).
  int rows_per_step() const { return rows_per_step_; }
  // Fills x (rows_per_step, F) and y (rows_per_step) with step `step`'s
  // rows. Deterministic in (seed, step). Never blocks.
  void Batch(int64_t step, float* x, float* y);

 private:
  TabularBatcher(const TabularData* data, int batch_size, int rank,
                 int num_workers, uint64_t seed);
  int64_t RowAt(int64_t position);

  const TabularData* data_;
  int batch_size_, rank_, num_workers_;
  uint64_t seed_;
  int rows_per_step_ = 0;
  int64_t first_row_ = 0;       // full batch: first row of the shard
  int64_t epoch_ = -1;          // epoch whose order is in order_
  std::vector<int64_t> order_;  // (N) row order of epoch_
};

}  // namespace pserve

#endif  // PSERVE_WORKER_DATA_TABULAR_H_
