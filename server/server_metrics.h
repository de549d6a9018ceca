// Prometheus metrics of a parameter server on --metrics_port: push/pull
// counts and bytes, updates, sync wait, versions, and the latency histogram
// of applying one pushed chunk. Threads: none of its own; each scrape, on
// one of the HTTP server's request threads, first copies the service's
// atomic counters into the registry (under a mutex), so a scrape sees every
// call that finished before it. Start and Stop belong to the owning thread.
#ifndef PSERVE_SERVER_SERVER_METRICS_H_
#define PSERVE_SERVER_SERVER_METRICS_H_

#include <functional>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics.h"
#include "server/service.h"
#include "server/shard_store.h"

namespace pserve {

class ServerMetrics {
 public:
  // `store` and `service` must outlive this object.
  ServerMetrics(const ShardStore* store, const ParameterServerService* service);
  ~ServerMetrics();

  // The histogram the service observes per applied chunk (seconds).
  Histogram* update_seconds() { return update_seconds_; }

  // Serves /metrics on port (0 picks one). Returns the bound port;
  // UNAVAILABLE if the port is taken.
  absl::StatusOr<int> Start(int port);
  // Exports refused() as pserve_unauthenticated_requests_total. Call
  // before Start; `refused` must stay callable until Stop.
  void WatchUnauthenticated(std::function<int64_t()> refused) {
    refused_auth_ = std::move(refused);
  }
  // Stops serving; safe to call more than once.
  void Stop();

 private:
  // Copies the counters' growth since the last call into the registry.
  void Refresh() ABSL_LOCKS_EXCLUDED(refresh_mu_);

  const ShardStore* store_;
  const ParameterServerService* service_;
  MetricsRegistry registry_;
  Counter *pushes_, *pulls_, *bytes_in_, *bytes_out_, *updates_, *rejected_,
      *duplicates_, *sync_wait_, *unauthenticated_;
  Gauge *min_version_, *max_version_, *params_, *pulls_in_flight_,
      *global_loss_, *global_loss_step_, *waiting_step_, *waiting_seconds_,
      *waiting_rank_, *waiting_ranks_, *dropped_ranks_;
  Histogram* update_seconds_;
  std::function<int64_t()> refused_auth_;  // set before Start
  absl::Mutex refresh_mu_;                 // one scrape's refresh at a time
  // Values already added to the counters.
  ServiceCounters last_ ABSL_GUARDED_BY(refresh_mu_);
  int64_t last_updates_ ABSL_GUARDED_BY(refresh_mu_) = 0;
  int64_t last_refused_auth_ ABSL_GUARDED_BY(refresh_mu_) = 0;
  std::unique_ptr<MetricsHttpServer> http_;
};

}  // namespace pserve

#endif  // PSERVE_SERVER_SERVER_METRICS_H_
