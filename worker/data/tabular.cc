// Tabular data files and the row batcher; see tabular.h.
// Thread-safety: no shared state.
#include "worker/data/tabular.h"

#include <cmath>
#include <cstring>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "worker/data/file_util.h"
#include "worker/data/shuffle.h"

namespace pserve {
namespace {

constexpr size_t kHeaderBytes = 4 + 4 + 8 + 4 * 4;

template <typename T>
void Put(std::string* out, T v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof(T));
}

void PutFloats(std::string* out, const std::vector<float>& v) {
  out->append(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}

// A bounds-checked cursor over the file's bytes.
struct Reader {
  const std::string& bytes;
  size_t pos = 0;
  template <typename T>
  bool Get(T* v) {
    if (bytes.size() - pos < sizeof(T)) return false;
    std::memcpy(v, bytes.data() + pos, sizeof(T));
    pos += sizeof(T);
    return true;
  }
  bool GetFloats(size_t n, std::vector<float>* v) {
    if ((bytes.size() - pos) / 4 < n) return false;
    v->resize(n);
    if (n > 0) std::memcpy(v->data(), bytes.data() + pos, n * 4);  // K may be 0
    pos += n * 4;
    return true;
  }
};

absl::Status Bad(const std::string& path, const std::string& why) {
  return absl::InvalidArgumentError(
      absl::StrCat("tabular file ", path, ": ", why,
                   "; write it with ps_prepare --input=FILE.csv --target=COL"));
}

absl::Status CheckValues(const std::string& path, const TabularData& d) {
  for (float s : d.feature_scale)
    if (!(s > 0) || !std::isfinite(s)) return Bad(path, "a feature scale <= 0");
  for (float v : d.features)
    if (!std::isfinite(v)) return Bad(path, "a non-finite feature value");
  for (float y : d.targets) {
    if (!std::isfinite(y)) return Bad(path, "a non-finite target");
    if (d.task == TabularTask::kClassification &&
        (y < 0 || y >= d.num_classes || y != std::floor(y)))
      return Bad(path, absl::StrCat("class index ", y, " outside [0, ",
                                    d.num_classes, ")"));
  }
  return absl::OkStatus();
}

}  // namespace

const char* TaskName(TabularTask task) {
  return task == TabularTask::kRegression ? "regression" : "classification";
}

const char* NormalizationName(Normalization n) {
  switch (n) {
    case Normalization::kStandard:
      return "standard";
    case Normalization::kMinMax:
      return "minmax";
    default:
      return "none";
  }
}

absl::Status WriteTabular(const std::string& path, const TabularData& d) {
  const size_t f = static_cast<size_t>(d.num_features);
  if (d.feature_shift.size() != f || d.feature_scale.size() != f ||
      d.features.size() != f * d.targets.size() ||
      d.class_labels.size() != static_cast<size_t>(d.num_classes))
    return absl::InvalidArgumentError(
        absl::StrCat("tabular file ", path, ": array sizes disagree"));
  std::string out;
  out.reserve(kHeaderBytes +
              4 * (d.features.size() + d.targets.size() + 4 * f));
  Put<int32_t>(&out, kTabularMagic);
  Put<int32_t>(&out, kTabularVersion);
  Put<int64_t>(&out, d.rows());
  Put<int32_t>(&out, d.num_features);
  Put<int32_t>(&out, static_cast<int32_t>(d.task));
  Put<int32_t>(&out, d.num_classes);
  Put<int32_t>(&out, static_cast<int32_t>(d.normalize));
  PutFloats(&out, d.feature_shift);
  PutFloats(&out, d.feature_scale);
  Put<float>(&out, d.target_shift);
  Put<float>(&out, d.target_scale);
  PutFloats(&out, d.class_labels);
  PutFloats(&out, d.features);
  PutFloats(&out, d.targets);
  return WriteFileAtomically(path, out, "tabular file");
}

absl::StatusOr<TabularData> ReadTabular(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadWholeFile(path, "tabular file");
  if (!bytes.ok()) return bytes.status();
  Reader r{*bytes};
  int32_t magic = 0, version = 0, task = 0, norm = 0;
  int64_t rows = 0;
  TabularData d;
  if (!r.Get(&magic) || !r.Get(&version) || !r.Get(&rows) ||
      !r.Get(&d.num_features) || !r.Get(&task) || !r.Get(&d.num_classes) ||
      !r.Get(&norm))
    return absl::DataLossError(
        absl::StrCat("tabular file ", path, ": truncated header"));
  if (magic != kTabularMagic)
    return Bad(
        path, absl::StrCat("bad magic ", magic, " (want ", kTabularMagic, ")"));
  if (version != kTabularVersion)
    return Bad(path, absl::StrCat("unsupported version ", version));
  if (task < 0 || task > 1 || norm < 0 || norm > 2)
    return Bad(path, "bad task or normalisation code");
  d.task = static_cast<TabularTask>(task);
  d.normalize = static_cast<Normalization>(norm);
  const bool cls = d.task == TabularTask::kClassification;
  if (rows < 1 || d.num_features < 1 || d.num_classes < 0 ||
      d.num_classes > 65536 || (cls && d.num_classes < 2) ||
      (!cls && d.num_classes != 0) ||
      rows > static_cast<int64_t>(bytes->size()))
    return Bad(path, "bad row, feature or class count");
  const size_t f = static_cast<size_t>(d.num_features);
  const size_t n = static_cast<size_t>(rows);
  if (!r.GetFloats(f, &d.feature_shift) || !r.GetFloats(f, &d.feature_scale) ||
      !r.Get(&d.target_shift) || !r.Get(&d.target_scale) ||
      !r.GetFloats(static_cast<size_t>(d.num_classes), &d.class_labels) ||
      n > bytes->size() / 4 / f || !r.GetFloats(n * f, &d.features) ||
      !r.GetFloats(n, &d.targets))
    return absl::DataLossError(absl::StrCat("tabular file ", path,
                                            ": truncated (the header says ",
                                            rows, " rows)"));
  if (r.pos != bytes->size())
    return absl::DataLossError(absl::StrCat("tabular file ", path, ": ",
                                            bytes->size() - r.pos,
                                            " bytes after the last row"));
  absl::Status s = CheckValues(path, d);
  if (!s.ok()) return s;
  return d;
}

TabularBatcher::TabularBatcher(const TabularData* data, int batch_size,
                               int rank, int num_workers, uint64_t seed)
    : data_(data),
      batch_size_(batch_size),
      rank_(rank),
      num_workers_(num_workers),
      seed_(seed) {}

absl::StatusOr<TabularBatcher> TabularBatcher::Create(const TabularData* data,
                                                      int batch_size, int rank,
                                                      int num_workers,
                                                      uint64_t seed) {
  const int64_t n = data->rows();
  if (batch_size < 0)
    return absl::InvalidArgumentError(
        "--batch_size: must be >= 0 (0: this worker's whole shard per step)");
  if (n < num_workers)
    return absl::InvalidArgumentError(
        absl::StrCat("the training file has ", n, " rows, fewer than the ",
                     num_workers, " workers: use fewer workers"));
  TabularBatcher b(data, batch_size, rank, num_workers, seed);
  if (batch_size > 0) {
    b.rows_per_step_ = batch_size;
  } else {
    b.first_row_ = rank * n / num_workers;
    b.rows_per_step_ =
        static_cast<int>((rank + 1) * n / num_workers - b.first_row_);
  }
  return b;
}

int64_t TabularBatcher::RowAt(int64_t position) {
  const int64_t n = data_->rows();
  const int64_t epoch = position / n;
  if (epoch != epoch_) {
    order_.resize(static_cast<size_t>(n));
    std::iota(order_.begin(), order_.end(), 0);
    DeterministicShuffle(order_, MixSeed(seed_, static_cast<uint64_t>(epoch)));
    epoch_ = epoch;
  }
  return order_[static_cast<size_t>(position % n)];
}

void TabularBatcher::Batch(int64_t step, float* x, float* y) {
  const size_t f = static_cast<size_t>(data_->num_features);
  const int64_t global = static_cast<int64_t>(batch_size_) * num_workers_;
  for (int i = 0; i < rows_per_step_; ++i) {
    const int64_t row =
        batch_size_ > 0 ? RowAt(step * global +
                                static_cast<int64_t>(rank_) * batch_size_ + i)
                        : first_row_ + i;
    std::memcpy(x + i * f, data_->features.data() + row * f, f * sizeof(float));
    y[i] = data_->targets[static_cast<size_t>(row)];
  }
}

}  // namespace pserve
