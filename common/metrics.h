// Prometheus metrics on prometheus-cpp (Debian's prometheus-cpp-dev): a
// registry of counters, gauges and fixed-bucket histograms rendered in the
// text exposition format 0.0.4, and the library's pull exposer serving the
// rendering on /metrics. This header keeps pserve's own small API over it.
//
// Thread-safety:
//  - Counter, Gauge and Histogram may be updated from any thread at any time,
//    concurrently with rendering (prometheus-cpp's atomics and locks).
//  - MetricsRegistry is thread-safe: Add* and RenderPrometheusText() may be
//    called from any thread. Metrics are owned by the registry and live as
//    long as it does; the pointers Add* returns stay valid until then.
//  - MetricsHttpServer owns prometheus-cpp's HTTP server (civetweb) and its
//    two request threads, created by Start() and joined by Stop() or the
//    destructor. Start() and Stop() must be called from one owning thread,
//    not concurrently. The registry is borrowed and must outlive the server.
#ifndef PSERVE_COMMON_METRICS_H_
#define PSERVE_COMMON_METRICS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace prometheus {
class Collectable;
class Counter;
class Exposer;
class Gauge;
class Histogram;
class Registry;
}  // namespace prometheus

namespace pserve {

// A constant label set, e.g. {{"role", "server"}, {"id", "0"}}; rendered in
// the given order on every sample of a registry.
using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// A monotonically increasing value (events, bytes, seconds spent). Made by
// MetricsRegistry::AddCounter only.
class Counter {
 public:
  explicit Counter(prometheus::Counter* impl) : impl_(impl) {}
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  // Adds `delta`; a negative or NaN delta is ignored (counters never go down).
  void Increment(double delta = 1.0);
  double Value() const;

 private:
  prometheus::Counter* impl_;  // owned by the registry's family
};

// A value that goes up and down (queue depth, current step, bytes held).
// Made by MetricsRegistry::AddGauge only.
class Gauge {
 public:
  explicit Gauge(prometheus::Gauge* impl) : impl_(impl) {}
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void Set(double value);
  void Add(double delta);
  void Sub(double delta) { Add(-delta); }
  double Value() const;

 private:
  prometheus::Gauge* impl_;  // owned by the registry's family
};

// Observations counted into fixed buckets: bucket i counts values <= bounds[i]
// (Prometheus "le" semantics), plus an implicit +Inf bucket. Made by
// MetricsRegistry::AddHistogram only.
class Histogram {
 public:
  // `bounds`: finite and strictly increasing (checked by AddHistogram).
  Histogram(prometheus::Histogram* impl, std::vector<double> bounds)
      : impl_(impl), bounds_(std::move(bounds)) {}
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void Observe(double value);

  struct Snapshot {
    std::vector<double> bounds;  // upper bounds, without +Inf
    std::vector<uint64_t>
        cumulative;  // bounds.size() + 1 entries; last = count
    uint64_t count = 0;
    double sum = 0.0;
  };
  Snapshot Collect() const;
  const std::vector<double>& bounds() const { return bounds_; }

  // `count` bounds start, start*factor, ... (start > 0, factor > 1).
  static std::vector<double> ExponentialBuckets(double start, double factor,
                                                int count);
  // `count` bounds start, start+width, ... (width > 0).
  static std::vector<double> LinearBuckets(double start, double width,
                                           int count);

 private:
  prometheus::Histogram* impl_;  // owned by the registry's family
  std::vector<double> bounds_;
};

// Owns metrics (a prometheus::Registry) and renders them. Names must match
// [a-zA-Z_:][a-zA-Z0-9_:]*. Adding a name twice with the same kind returns the
// existing metric (for a histogram, the bounds must match too); an invalid
// name, a name reused with another kind, or invalid bounds (not finite, not
// strictly increasing; a trailing +Inf is dropped, it is always implicit) is
// a programming error and aborts with a message on stderr.
class MetricsRegistry {
 public:
  // Label names must match [a-zA-Z_][a-zA-Z0-9_]*, must not start with "__",
  // must not be "le", and must be distinct; otherwise the constructor aborts.
  explicit MetricsRegistry(MetricLabels const_labels = {});
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;
  ~MetricsRegistry();

  Counter* AddCounter(const std::string& name, const std::string& help);
  Gauge* AddGauge(const std::string& name, const std::string& help);
  Histogram* AddHistogram(const std::string& name, const std::string& help,
                          std::vector<double> bounds);

  // Every metric in text exposition format 0.0.4 (prometheus-cpp's
  // serializer: counters, then gauges, then histograms, each kind in the
  // order added; constant labels sorted by name).
  std::string RenderPrometheusText() const;

  const MetricLabels& const_labels() const { return const_labels_; }

 private:
  friend class MetricsHttpServer;
  enum class Kind { kCounter, kGauge, kHistogram };
  struct Entry {
    std::string name;
    std::string help;
    Kind kind;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
  };
  Entry* FindOrNull(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Entry* AddEntry(const std::string& name, const std::string& help, Kind kind)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const MetricLabels const_labels_;
  const std::shared_ptr<prometheus::Registry> registry_;
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
};

// Serves GET /metrics (the registry's rendering, plus the exposer's own
// exposer_* metrics) over plain HTTP with prometheus::Exposer; other paths
// get 404.
//
// Threads: Start() starts the exposer's server with two request threads, all
// owned by this object. Stop() (also run by the destructor) closes the socket
// and joins them. Start() and Stop() are not thread-safe with respect to each
// other; call them from the owning thread.
class MetricsHttpServer {
 public:
  // `registry` is borrowed and must outlive this object. `before_scrape`,
  // if set, runs on a request thread before each rendering (so a scrape
  // sees values copied in at that moment); the two request threads may run
  // it concurrently, so it must be thread-safe, and it must stay callable
  // until Stop().
  explicit MetricsHttpServer(const MetricsRegistry* registry,
                             std::function<void()> before_scrape = nullptr);
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;
  ~MetricsHttpServer();

  // Binds `host:port` and starts serving; port 0 picks a free port. Returns
  // the bound port, or UNAVAILABLE if the port cannot be bound,
  // FAILED_PRECONDITION if already started, INVALID_ARGUMENT for a bad port.
  absl::StatusOr<int> Start(int port, const std::string& host = "0.0.0.0");
  // Stops serving and joins the threads; safe to call when not started and
  // more than once. After Stop(), Start() may be called again.
  void Stop();
  // The bound port, or 0 when not serving.
  int port() const { return port_; }

 private:
  const MetricsRegistry* registry_;
  const std::function<void()> before_scrape_;
  // What the exposer collects: the registry, behind before_scrape_ when set
  // (the exposer holds a weak_ptr; this keeps it alive while serving).
  std::shared_ptr<prometheus::Collectable> collectable_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

}  // namespace pserve

#endif  // PSERVE_COMMON_METRICS_H_
