// CSV in, tabular files out: the tabular half of ps_prepare. Reads a CSV
// with a header row, infers or checks the task, splits train/validation
// deterministically, normalises with the training rows' statistics and
// writes D/train.tab, D/val.tab (tabular.h) and D/stats.json.
// Thread-safety: pure functions over the file system; no shared state.
#ifndef PSERVE_WORKER_DATA_TABULAR_PREPARE_H_
#define PSERVE_WORKER_DATA_TABULAR_PREPARE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/data/tabular.h"

namespace pserve {

struct TabularPrepareOptions {
  std::string input;                // CSV file with a header row
  std::string target;               // name of the target column
  std::optional<TabularTask> task;  // empty: inferred from the target
  Normalization normalize = Normalization::kStandard;
  double val_fraction = 0.2;  // in [0, 1)
  uint64_t seed = 0;          // seeds the row permutation of the split
  std::string out_dir;        // created if missing
};

// A parsed CSV: column names and numeric cells, row-major.
struct CsvTable {
  std::vector<std::string> columns;
  std::vector<double> cells;  // (rows, columns)
  int64_t rows() const {
    return columns.empty()
               ? 0
               : static_cast<int64_t>(cells.size() / columns.size());
  }
};

// Parses CSV text (RFC 4180 quoting; blank lines skipped). `name` is used
// in errors. INVALID_ARGUMENT, one line naming the row (and line) and the
// column, for a ragged row, a non-numeric or empty cell, no header or no
// data rows. Never blocks.
absl::StatusOr<CsvTable> ParseCsv(const std::string& text,
                                  const std::string& name);

// Integer targets with at most this many distinct values are a
// classification target when --task is not given.
inline constexpr int kMaxInferredClasses = 20;

struct TabularPrepareResult {
  std::string train_path, val_path, stats_path;  // val_path empty: no rows
  TabularData train;  // as written (val rows are not kept)
  int64_t val_rows = 0;
};

// Runs the whole preparation. INVALID_ARGUMENT (one line) for bad options,
// a bad CSV, a missing target column (naming the columns there are), a
// non-integer label with --task=classification, one class only, or a split
// that leaves no training rows; NOT_FOUND if the input is missing;
// INTERNAL when a file cannot be written. Deterministic in its inputs.
// Blocks on disk I/O.
absl::StatusOr<TabularPrepareResult> PrepareTabular(
    const TabularPrepareOptions& options);

// One line describing `result` for people.
std::string TabularPrepareSummary(const TabularPrepareResult& result);

}  // namespace pserve

#endif  // PSERVE_WORKER_DATA_TABULAR_PREPARE_H_
