// Prometheus metrics on prometheus-cpp: pserve's Counter, Gauge and
// Histogram over the library's metrics, and the registry that owns them and
// renders them with its text serializer (the HTTP side is metrics_http.cc).
// Thread-safety: as documented in metrics.h.
#include "common/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"

namespace pserve {
namespace {

[[noreturn]] void Fatal(const std::string& message) {
  std::fprintf(stderr, "metrics: %s\n", message.c_str());
  std::fflush(stderr);
  std::abort();
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
// double quote. prometheus-cpp escapes label values itself but writes HELP
// as given, so HELP goes through here first.
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

prometheus::Labels AsMap(const MetricLabels& labels) {
  return prometheus::Labels(labels.begin(), labels.end());
}

}  // namespace

// ---------------------------------------------------------------- metrics

void Counter::Increment(double delta) {
  if (!(delta > 0)) return;  // also drops NaN
  impl_->Increment(delta);
}

double Counter::Value() const { return impl_->Value(); }

void Gauge::Set(double value) { impl_->Set(value); }
void Gauge::Add(double delta) { impl_->Increment(delta); }
double Gauge::Value() const { return impl_->Value(); }

void Histogram::Observe(double value) { impl_->Observe(value); }

Histogram::Snapshot Histogram::Collect() const {
  const prometheus::ClientMetric m = impl_->Collect();
  Snapshot s;
  s.bounds = bounds_;
  for (const auto& b : m.histogram.bucket)
    s.cumulative.push_back(b.cumulative_count);
  s.count = m.histogram.sample_count;
  s.sum = m.histogram.sample_sum;
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
      registry_(std::make_shared<prometheus::Registry>()) {}

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
  if (!e->counter) {
    auto& family = prometheus::BuildCounter()
                       .Name(name)
                       .Help(EscapeHelp(help))
                       .Labels(AsMap(const_labels_))
                       .Register(*registry_);
    e->counter = std::make_unique<Counter>(&family.Add({}));
  }
  return e->counter.get();
}

Gauge* MetricsRegistry::AddGauge(const std::string& name,
                                 const std::string& help) {
  absl::MutexLock lock(&mu_);
  Entry* e = AddEntry(name, help, Kind::kGauge);
  if (!e->gauge) {
    auto& family = prometheus::BuildGauge()
                       .Name(name)
                       .Help(EscapeHelp(help))
                       .Labels(AsMap(const_labels_))
                       .Register(*registry_);
    e->gauge = std::make_unique<Gauge>(&family.Add({}));
  }
  return e->gauge.get();
}

Histogram* MetricsRegistry::AddHistogram(const std::string& name,
                                         const std::string& help,
                                         std::vector<double> bounds) {
  bounds = CheckedBounds(std::move(bounds));
  absl::MutexLock lock(&mu_);
  Entry* e = AddEntry(name, help, Kind::kHistogram);
  if (!e->histogram) {
    auto& family = prometheus::BuildHistogram()
                       .Name(name)
                       .Help(EscapeHelp(help))
                       .Labels(AsMap(const_labels_))
                       .Register(*registry_);
    e->histogram = std::make_unique<Histogram>(
        &family.Add({}, prometheus::Histogram::BucketBoundaries(bounds)),
        bounds);
  } else if (e->histogram->bounds() != bounds) {
    Fatal("histogram '" + name + "' re-added with different bounds");
  }
  return e->histogram.get();
}

std::string MetricsRegistry::RenderPrometheusText() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace pserve
