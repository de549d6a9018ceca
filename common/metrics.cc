// Prometheus metrics: counters, gauges, histograms and the registry that
// renders them as text (see metrics.h; the HTTP server is metrics_http.cc).
// Thread-safety: as documented in metrics.h.
#include "common/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <set>

#include "absl/strings/str_cat.h"

namespace pserve {
namespace {

[[noreturn]] void Fatal(const std::string& message) {
  std::fprintf(stderr, "metrics: %s\n", message.c_str());
  std::fflush(stderr);
  std::abort();
}

void AtomicAdd(std::atomic<double>& target, double delta) {
  double old = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(old, old + delta,
                                       std::memory_order_relaxed)) {
  }
}

bool IsValidMetricName(const std::string& name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                       c == '_' || c == ':';
    const bool digit = c >= '0' && c <= '9';
    if (!(alpha || (i > 0 && digit))) return false;
  }
  return true;
}

bool IsValidLabelName(const std::string& name) {
  if (name.empty() || name.rfind("__", 0) == 0 || name == "le") return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (!(alpha || (i > 0 && digit))) return false;
  }
  return true;
}

// HELP text escapes backslash and newline; label values also escape the
// double quote.
std::string Escape(const std::string& s, bool quote) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeHelp(const std::string& s) { return Escape(s, false); }
std::string EscapeLabelValue(const std::string& s) { return Escape(s, true); }

// Shortest text that reads back as the same double; Prometheus spellings for
// the non-finite values.
std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  // Whole numbers below 2^53 (counts, bytes) print as plain integers.
  const bool whole = std::fabs(v) < 9007199254740992.0 && v == std::trunc(v);
  auto result =
      whole ? std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed)
            : std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, result.ptr);
}

std::string RenderLabels(const MetricLabels& labels) {
  std::string out;
  for (const auto& [name, value] : labels) {
    if (!out.empty()) out += ',';
    absl::StrAppend(&out, name, "=\"", EscapeLabelValue(value), "\"");
  }
  return out;
}

// `name{labels} value` with the braces only when there are labels.
void AppendSample(std::string* out, const std::string& name,
                  const std::string& labels, const std::string& value) {
  out->append(name);
  if (!labels.empty()) absl::StrAppend(out, "{", labels, "}");
  absl::StrAppend(out, " ", value, "\n");
}

MetricLabels CheckedLabels(MetricLabels labels) {
  std::set<std::string> seen;
  for (const auto& [name, value] : labels) {
    if (!IsValidLabelName(name)) Fatal("invalid label name '" + name + "'");
    if (!seen.insert(name).second) Fatal("duplicate label name '" + name + "'");
  }
  return labels;
}

std::vector<double> CheckedBounds(std::vector<double> bounds) {
  if (!bounds.empty() && std::isinf(bounds.back()) && bounds.back() > 0) {
    bounds.pop_back();
  }
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i])) {
      Fatal(absl::StrCat("histogram bound ", i, " is not finite"));
    }
    if (i > 0 && !(bounds[i] > bounds[i - 1])) {
      Fatal(absl::StrCat("histogram bounds must be strictly increasing: bound ",
                         i, " (", bounds[i], ") <= bound ", i - 1, " (",
                         bounds[i - 1], ")"));
    }
  }
  return bounds;
}

}  // namespace

// ---------------------------------------------------------------- Counter

void Counter::Increment(double delta) {
  if (!(delta > 0)) return;  // also drops NaN
  AtomicAdd(value_, delta);
}

// ---------------------------------------------------------------- Gauge

void Gauge::Add(double delta) { AtomicAdd(value_, delta); }

// ---------------------------------------------------------------- Histogram

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(CheckedBounds(std::move(bounds))),
      buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double value) {
  if (std::isnan(value)) return;
  // First bound >= value: the smallest bucket whose "le" admits it.
  const size_t i =
      std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  AtomicAdd(sum_, value);
}

Histogram::Snapshot Histogram::Collect() const {
  Snapshot s;
  s.bounds = bounds_;
  s.cumulative.resize(bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = running;
  }
  // The count is the +Inf bucket, so the two always agree in one scrape.
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::vector<double> Histogram::ExponentialBuckets(double start, double factor,
                                                  int count) {
  if (!(start > 0) || !(factor > 1) || count < 1) {
    Fatal("ExponentialBuckets needs start > 0, factor > 1, count >= 1");
  }
  std::vector<double> out;
  double v = start;
  for (int i = 0; i < count; ++i, v *= factor) out.push_back(v);
  return out;
}

std::vector<double> Histogram::LinearBuckets(double start, double width,
                                             int count) {
  if (!(width > 0) || count < 1) {
    Fatal("LinearBuckets needs width > 0, count >= 1");
  }
  std::vector<double> out;
  for (int i = 0; i < count; ++i) out.push_back(start + width * i);
  return out;
}

// ---------------------------------------------------------------- Registry

MetricsRegistry::MetricsRegistry(MetricLabels const_labels)
    : const_labels_(CheckedLabels(std::move(const_labels))),
      label_text_(RenderLabels(const_labels_)) {}

MetricsRegistry::~MetricsRegistry() = default;

MetricsRegistry::Entry* MetricsRegistry::FindOrNull(const std::string& name) {
  for (auto& e : entries_) {
    if (e->name == name) return e.get();
  }
  return nullptr;
}

MetricsRegistry::Entry* MetricsRegistry::AddEntry(const std::string& name,
                                                  const std::string& help,
                                                  Kind kind) {
  if (!IsValidMetricName(name)) Fatal("invalid metric name '" + name + "'");
  if (Entry* e = FindOrNull(name)) {
    if (e->kind != kind) {
      Fatal("metric '" + name + "' already registered as another kind");
    }
    return e;
  }
  // A histogram's series names must not collide with other metrics either.
  for (const auto& e : entries_) {
    if (e->kind != Kind::kHistogram && kind != Kind::kHistogram) continue;
    const std::string& hist = e->kind == Kind::kHistogram ? e->name : name;
    const std::string& other = e->kind == Kind::kHistogram ? name : e->name;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      if (other == hist + suffix) {
        Fatal("metric '" + other + "' collides with histogram '" + hist + "'");
      }
    }
  }
  auto entry = std::make_unique<Entry>();
  entry->name = name;
  entry->help = help;
  entry->kind = kind;
  entries_.push_back(std::move(entry));
  return entries_.back().get();
}

Counter* MetricsRegistry::AddCounter(const std::string& name,
                                     const std::string& help) {
  absl::MutexLock lock(&mu_);
  Entry* e = AddEntry(name, help, Kind::kCounter);
  if (!e->counter) e->counter = std::make_unique<Counter>();
  return e->counter.get();
}

Gauge* MetricsRegistry::AddGauge(const std::string& name,
                                 const std::string& help) {
  absl::MutexLock lock(&mu_);
  Entry* e = AddEntry(name, help, Kind::kGauge);
  if (!e->gauge) e->gauge = std::make_unique<Gauge>();
  return e->gauge.get();
}

Histogram* MetricsRegistry::AddHistogram(const std::string& name,
                                         const std::string& help,
                                         std::vector<double> bounds) {
  // Validate outside the lock so a bad call aborts with the bounds message.
  auto fresh = std::make_unique<Histogram>(std::move(bounds));
  absl::MutexLock lock(&mu_);
  Entry* e = AddEntry(name, help, Kind::kHistogram);
  if (!e->histogram) {
    e->histogram = std::move(fresh);
  } else if (e->histogram->bounds() != fresh->bounds()) {
    Fatal("histogram '" + name + "' re-added with different bounds");
  }
  return e->histogram.get();
}

std::string MetricsRegistry::RenderPrometheusText() const {
  absl::MutexLock lock(&mu_);
  std::string out;
  const std::string sep = label_text_.empty() ? "" : ",";
  for (const auto& e : entries_) {
    const char* type = e->kind == Kind::kCounter ? "counter"
                       : e->kind == Kind::kGauge ? "gauge"
                                                 : "histogram";
    absl::StrAppend(&out, "# HELP ", e->name, " ", EscapeHelp(e->help), "\n");
    absl::StrAppend(&out, "# TYPE ", e->name, " ", type, "\n");
    switch (e->kind) {
      case Kind::kCounter:
        AppendSample(&out, e->name, label_text_,
                     FormatValue(e->counter->Value()));
        break;
      case Kind::kGauge:
        AppendSample(&out, e->name, label_text_,
                     FormatValue(e->gauge->Value()));
        break;
      case Kind::kHistogram: {
        const Histogram::Snapshot s = e->histogram->Collect();
        const std::string bucket = e->name + "_bucket";
        for (size_t i = 0; i <= s.bounds.size(); ++i) {
          const std::string le =
              i < s.bounds.size() ? FormatValue(s.bounds[i]) : "+Inf";
          AppendSample(&out, bucket,
                       absl::StrCat(label_text_, sep, "le=\"", le, "\""),
                       absl::StrCat(s.cumulative[i]));
        }
        AppendSample(&out, e->name + "_sum", label_text_, FormatValue(s.sum));
        AppendSample(&out, e->name + "_count", label_text_,
                     absl::StrCat(s.count));
        break;
      }
    }
  }
  return out;
}

}  // namespace pserve
