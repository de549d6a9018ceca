// Prometheus metrics of a parameter server on --metrics_port: push/pull
// counts and bytes, updates, sync wait, versions, and the latency histogram
// of applying one pushed chunk. Threads: one refresher thread (owned here,
// joined by Stop or the destructor) copies the service's atomic counters
// into the registry every 500 ms; the HTTP server has threads of its own.
#ifndef PSERVE_SERVER_SERVER_METRICS_H_
#define PSERVE_SERVER_SERVER_METRICS_H_

#include <functional>
#include <memory>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
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
  // UNAVAILABLE if the port is taken. Starts the refresher thread.
  absl::StatusOr<int> Start(int port);
  // Exports refused() as pserve_unauthenticated_requests_total. Call
  // before Start; `refused` must stay callable until Stop.
  void WatchUnauthenticated(std::function<int64_t()> refused) {
    refused_auth_ = std::move(refused);
  }
  void Stop();

 private:
  void Refresh();

  const ShardStore* store_;
  const ParameterServerService* service_;
  MetricsRegistry registry_;
  Counter *pushes_, *pulls_, *bytes_in_, *bytes_out_, *updates_, *rejected_,
      *duplicates_, *sync_wait_, *unauthenticated_;
  Gauge *min_version_, *max_version_, *params_, *pulls_in_flight_,
      *global_loss_, *global_loss_step_, *waiting_step_, *waiting_seconds_,
      *waiting_rank_, *waiting_ranks_, *dropped_ranks_;
  Histogram* update_seconds_;
  ServiceCounters last_;  // values already added to the counters
  int64_t last_updates_ = 0;
  std::function<int64_t()> refused_auth_;  // set before Start
  int64_t last_refused_auth_ = 0;
  std::unique_ptr<MetricsHttpServer> http_;
  absl::Notification stop_;
  std::thread refresher_;
};

}  // namespace pserve

#endif  // PSERVE_SERVER_SERVER_METRICS_H_
