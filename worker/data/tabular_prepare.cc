// CSV parsing, task inference, split and normalisation; see
// tabular_prepare.h. Thread-safety: no shared state.
#include "worker/data/tabular_prepare.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <numeric>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "worker/data/file_util.h"
#include "worker/data/shuffle.h"

namespace pserve {
namespace {

// Splits one CSV record starting at text[*pos]; advances past its line end.
std::vector<std::string> NextRecord(const std::string& text, size_t* pos) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  size_t i = *pos;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else if (c == '\n') {
      break;
    } else if (c != '\r') {
      fields.back() += c;
    }
  }
  *pos = i + 1;
  for (std::string& f : fields) f = std::string(absl::StripAsciiWhitespace(f));
  return fields;
}

bool Blank(const std::vector<std::string>& record) {
  return record.size() == 1 && record[0].empty();
}

absl::Status Invalid(const std::string& msg) {
  return absl::InvalidArgumentError(msg);
}

}  // namespace

absl::StatusOr<CsvTable> ParseCsv(const std::string& text,
                                  const std::string& name) {
  CsvTable t;
  size_t pos = 0;
  int64_t line = 0;
  while (pos < text.size() && t.columns.empty()) {
    ++line;
    std::vector<std::string> rec = NextRecord(text, &pos);
    if (!Blank(rec)) t.columns = std::move(rec);
  }
  if (t.columns.empty())
    return Invalid(name + ": empty file; a CSV needs a header row of names");
  const size_t ncol = t.columns.size();
  int64_t row = 0;
  while (pos < text.size()) {
    ++line;
    std::vector<std::string> rec = NextRecord(text, &pos);
    if (Blank(rec)) continue;
    ++row;
    if (rec.size() != ncol)
      return Invalid(absl::StrCat(name, ": row ", row, " (line ", line,
                                  ") has ", rec.size(),
                                  " columns but the header has ", ncol));
    for (size_t c = 0; c < ncol; ++c) {
      double v = 0;
      if (!absl::SimpleAtod(rec[c], &v) || !std::isfinite(v))
        return Invalid(absl::StrCat(
            name, ": row ", row, " (line ", line, ") column ", c + 1, " '",
            t.columns[c], "': '", rec[c],
            "' is not a finite number; every cell must be numeric"));
      t.cells.push_back(v);
    }
  }
  if (row == 0) return Invalid(name + ": no data rows after the header");
  return t;
}

namespace {

struct Split {
  std::vector<int64_t> train, val;  // row indices into the CSV
};

Split SplitRows(int64_t rows, double val_fraction, uint64_t seed) {
  std::vector<int64_t> order(static_cast<size_t>(rows));
  std::iota(order.begin(), order.end(), 0);
  DeterministicShuffle(order, seed);
  const auto nval =
      static_cast<size_t>(val_fraction * static_cast<double>(rows));
  Split s;
  s.val.assign(order.begin(), order.begin() + nval);
  s.train.assign(order.begin() + nval, order.end());
  return s;
}

// shift / scale of values[i] over `rows` (column `col` of `ncol`).
void Stats(const CsvTable& t, size_t col, const std::vector<int64_t>& rows,
           Normalization how, float* shift, float* scale) {
  const size_t ncol = t.columns.size();
  double sum = 0, lo = INFINITY, hi = -INFINITY;
  for (int64_t r : rows) {
    const double v = t.cells[r * ncol + col];
    sum += v, lo = std::min(lo, v), hi = std::max(hi, v);
  }
  const double mean = sum / static_cast<double>(rows.size());
  double ss = 0;
  for (int64_t r : rows) ss += std::pow(t.cells[r * ncol + col] - mean, 2);
  const double sd = std::sqrt(ss / static_cast<double>(rows.size()));
  double a = 0, b = 1;
  if (how == Normalization::kStandard) a = mean, b = sd;
  if (how == Normalization::kMinMax) a = lo, b = hi - lo;
  *shift = static_cast<float>(a);
  *scale = b > 1e-12 ? static_cast<float>(b) : 1.0f;  // constant column
}

absl::StatusOr<TabularTask> ResolveTask(const TabularPrepareOptions& o,
                                        const CsvTable& t, size_t target,
                                        std::vector<float>* labels) {
  std::map<double, int64_t> counts;
  bool integer = true;
  for (int64_t r = 0; r < t.rows(); ++r) {
    const double y = t.cells[r * t.columns.size() + target];
    integer = integer && y == std::floor(y);
    ++counts[y];
  }
  TabularTask task =
      o.task.value_or(integer && counts.size() <= kMaxInferredClasses
                          ? TabularTask::kClassification
                          : TabularTask::kRegression);
  if (task == TabularTask::kRegression) return task;
  if (!integer)
    return Invalid(absl::StrCat(o.input, ": column '", o.target,
                                "' has non-integer values, so it is not a "
                                "class label; use --task=regression"));
  if (counts.size() < 2)
    return Invalid(absl::StrCat(o.input, ": column '", o.target,
                                "' has one class only (", counts.begin()->first,
                                "); classification needs at least two"));
  if (counts.size() > 65536)
    return Invalid(absl::StrCat(o.input, ": column '", o.target, "' has ",
                                counts.size(), " classes; at most 65536"));
  for (const auto& [label, n] : counts)
    labels->push_back(static_cast<float>(label));
  return task;
}

TabularData Build(const CsvTable& t, size_t target,
                  const std::vector<int64_t>& rows, const TabularData& stats) {
  TabularData d = stats;
  d.features.clear();
  d.targets.clear();
  const size_t ncol = t.columns.size();
  for (int64_t r : rows) {
    for (size_t c = 0, f = 0; c < ncol; ++c) {
      if (c == target) continue;
      const double v = t.cells[r * ncol + c];
      d.features.push_back(
          static_cast<float>((v - d.feature_shift[f]) / d.feature_scale[f]));
      ++f;
    }
    const double y = t.cells[r * ncol + target];
    if (d.task == TabularTask::kRegression) {
      d.targets.push_back(
          static_cast<float>((y - d.target_shift) / d.target_scale));
    } else {
      auto it = std::lower_bound(d.class_labels.begin(), d.class_labels.end(),
                                 static_cast<float>(y));
      d.targets.push_back(static_cast<float>(it - d.class_labels.begin()));
    }
  }
  return d;
}

absl::Status CheckOptions(const TabularPrepareOptions& o) {
  if (o.target.empty())
    return Invalid("--target: required for a CSV input: the column to predict");
  if (!(o.val_fraction >= 0.0 && o.val_fraction < 1.0))
    return Invalid(absl::StrCat("--val_fraction=", o.val_fraction,
                                " is outside [0, 1); 0.2 keeps 20% for val"));
  if (o.out_dir.empty())
    return Invalid("--out_dir: required: the directory for train.tab");
  return absl::OkStatus();
}

std::string StatsJson(const CsvTable& t, size_t target, const TabularData& d) {
  std::vector<std::string> feats;
  for (size_t c = 0, f = 0; c < t.columns.size(); ++c) {
    if (c == target) continue;
    feats.push_back(absl::StrCat("{\"name\":\"", t.columns[c],
                                 "\",\"shift\":", d.feature_shift[f],
                                 ",\"scale\":", d.feature_scale[f], "}"));
    ++f;
  }
  return absl::StrCat("{\"task\":\"", TaskName(d.task), "\",\"normalize\":\"",
                      NormalizationName(d.normalize), "\",\"target\":\"",
                      t.columns[target], "\",\"classes\":[",
                      absl::StrJoin(d.class_labels, ","),
                      "],\"target_shift\":", d.target_shift,
                      ",\"target_scale\":", d.target_scale, ",\"features\":[",
                      absl::StrJoin(feats, ","), "]}\n");
}

}  // namespace

absl::StatusOr<TabularPrepareResult> PrepareTabular(
    const TabularPrepareOptions& o) {
  absl::Status s = CheckOptions(o);
  if (!s.ok()) return s;
  absl::StatusOr<std::string> text = ReadWholeFile(o.input, "CSV file");
  if (!text.ok()) return text.status();
  absl::StatusOr<CsvTable> table = ParseCsv(*text, o.input);
  if (!table.ok()) return table.status();
  const auto it =
      std::find(table->columns.begin(), table->columns.end(), o.target);
  if (it == table->columns.end())
    return Invalid(absl::StrCat(o.input, ": no column '", o.target,
                                "' in the header; columns are ",
                                absl::StrJoin(table->columns, ",")));
  if (table->columns.size() < 2)
    return Invalid(o.input + ": no feature columns besides the target");
  const size_t target = static_cast<size_t>(it - table->columns.begin());
  TabularData stats;
  absl::StatusOr<TabularTask> task =
      ResolveTask(o, *table, target, &stats.class_labels);
  if (!task.ok()) return task.status();
  stats.task = *task;
  stats.normalize = o.normalize;
  stats.num_features = static_cast<int>(table->columns.size() - 1);
  stats.num_classes = static_cast<int>(stats.class_labels.size());
  const Split split = SplitRows(table->rows(), o.val_fraction, o.seed);
  if (split.train.empty())
    return Invalid("--val_fraction leaves no training rows; lower it");
  for (size_t c = 0; c < table->columns.size(); ++c) {
    if (c == target) continue;
    float a, b;
    Stats(*table, c, split.train, o.normalize, &a, &b);
    stats.feature_shift.push_back(a);
    stats.feature_scale.push_back(b);
  }
  if (stats.task == TabularTask::kRegression)
    Stats(*table, target, split.train, o.normalize, &stats.target_shift,
          &stats.target_scale);

  std::error_code ec;
  std::filesystem::create_directories(o.out_dir, ec);
  if (ec)
    return absl::InternalError(absl::StrCat("cannot create --out_dir ",
                                            o.out_dir, ": ", ec.message()));
  const std::filesystem::path dir(o.out_dir);
  TabularPrepareResult r;
  r.train_path = (dir / "train.tab").string();
  r.stats_path = (dir / "stats.json").string();
  r.train = Build(*table, target, split.train, stats);
  s = WriteTabular(r.train_path, r.train);
  if (s.ok() && !split.val.empty()) {
    r.val_path = (dir / "val.tab").string();
    r.val_rows = static_cast<int64_t>(split.val.size());
    s = WriteTabular(r.val_path, Build(*table, target, split.val, stats));
  }
  if (s.ok())
    s = WriteFileAtomically(r.stats_path, StatsJson(*table, target, stats),
                            "statistics file");
  if (!s.ok()) return s;
  return r;
}

std::string TabularPrepareSummary(const TabularPrepareResult& r) {
  const TabularData& d = r.train;
  return absl::StrCat(
      "ps_prepare: ", TaskName(d.task), ", ", d.num_features, " features",
      d.task == TabularTask::kClassification
          ? absl::StrCat(", ", d.num_classes, " classes")
          : std::string(),
      ", normalize ", NormalizationName(d.normalize), " -> train ", d.rows(),
      " rows (", r.train_path, "), val ", r.val_rows, " rows (",
      r.val_path.empty() ? "none" : r.val_path, "), stats ", r.stats_path);
}

}  // namespace pserve
