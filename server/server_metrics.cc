// Server metrics: registry layout and the refresh before each scrape.
#include "server/server_metrics.h"

#include "absl/strings/str_cat.h"

namespace pserve {
namespace {

// Adds the growth of an atomic since the last refresh to a counter.
void Bump(Counter* c, const std::atomic<int64_t>& now,
          std::atomic<int64_t>& last, double scale = 1.0) {
  const int64_t v = now.load();
  c->Increment((v - last.load()) * scale);
  last.store(v);
}

}  // namespace

ServerMetrics::ServerMetrics(const ShardStore* store,
                             const ParameterServerService* service)
    : store_(store),
      service_(service),
      registry_({{"role", "server"},
                 {"id", absl::StrCat(store->config().server_id)}}) {
  pushes_ = registry_.AddCounter("pserve_pushes_total", "Push RPCs served");
  pulls_ = registry_.AddCounter("pserve_pulls_total", "Pull RPCs served");
  bytes_in_ = registry_.AddCounter("pserve_push_bytes_total",
                                   "gradient payload bytes received");
  bytes_out_ = registry_.AddCounter("pserve_pull_bytes_total",
                                    "parameter payload bytes sent");
  updates_ = registry_.AddCounter("pserve_updates_applied_total",
                                  "optimizer updates applied to chunks");
  rejected_ = registry_.AddCounter("pserve_rejected_requests_total",
                                   "requests refused as malformed");
  duplicates_ = registry_.AddCounter("pserve_duplicate_pushes_total",
                                     "retried pushes ignored");
  unauthenticated_ =
      registry_.AddCounter("pserve_unauthenticated_requests_total",
                           "calls refused for a missing or wrong bearer token");
  sync_wait_ = registry_.AddCounter("pserve_sync_wait_seconds_total",
                                    "time pulls waited for versions/clocks");
  min_version_ = registry_.AddGauge("pserve_min_version",
                                    "smallest chunk version on this server");
  max_version_ = registry_.AddGauge("pserve_max_version",
                                    "largest chunk version on this server");
  params_ = registry_.AddGauge("pserve_parameters", "parameters held here");
  global_loss_ = registry_.AddGauge("pserve_global_loss",
                                    "training loss of the newest step every "
                                    "rank reported (example-weighted)");
  global_loss_step_ = registry_.AddGauge(
      "pserve_global_loss_step", "the step pserve_global_loss belongs to");
  waiting_step_ = registry_.AddGauge(
      "pserve_waiting_step", "sync step waiting for ranks to push (-1: none)");
  waiting_seconds_ =
      registry_.AddGauge("pserve_waiting_seconds",
                         "how long that step has waited since its first push");
  waiting_rank_ = registry_.AddGauge(
      "pserve_waiting_for_rank", "lowest rank that step waits for (-1: none)");
  waiting_ranks_ = registry_.AddGauge("pserve_waiting_ranks",
                                      "how many ranks that step waits for");
  dropped_ranks_ = registry_.AddGauge(
      "pserve_dropped_ranks", "ranks --elastic dropped that have not rejoined");
  pulls_in_flight_ = registry_.AddGauge(
      "pserve_pulls_in_flight",
      "pulls in progress now (in sync/ssp mostly waiting for a version or "
      "clock)");
  update_seconds_ = registry_.AddHistogram(
      "pserve_update_seconds", "time to apply one pushed chunk",
      Histogram::ExponentialBuckets(1e-5, 4, 10));
}

ServerMetrics::~ServerMetrics() { Stop(); }

absl::StatusOr<int> ServerMetrics::Start(int port) {
  http_ =
      std::make_unique<MetricsHttpServer>(&registry_, [this] { Refresh(); });
  return http_->Start(port);
}

void ServerMetrics::Stop() {
  if (http_ != nullptr) http_->Stop();
}

void ServerMetrics::Refresh() {
  absl::MutexLock lock(&refresh_mu_);
  const ServiceCounters& c = service_->counters();
  Bump(pushes_, c.pushes, last_.pushes);
  Bump(pulls_, c.pulls, last_.pulls);
  Bump(bytes_in_, c.bytes_in, last_.bytes_in);
  Bump(bytes_out_, c.bytes_out, last_.bytes_out);
  Bump(rejected_, c.rejected, last_.rejected);
  Bump(duplicates_, c.duplicate_pushes, last_.duplicate_pushes);
  Bump(sync_wait_, c.sync_wait_us, last_.sync_wait_us, 1e-6);
  if (refused_auth_) {
    const int64_t refused = refused_auth_();
    unauthenticated_->Increment(refused - last_refused_auth_);
    last_refused_auth_ = refused;
  }
  const int64_t updates = store_->updates_applied();
  updates_->Increment(updates - last_updates_);
  last_updates_ = updates;
  auto [lo, hi] = store_->VersionRange();
  min_version_->Set(lo);
  max_version_->Set(hi);
  params_->Set(store_->initialized() ? store_->num_params() : 0);
  const GlobalLoss loss = store_->rules().LatestGlobalLoss();
  global_loss_step_->Set(static_cast<double>(loss.step));
  if (loss.step >= 0) global_loss_->Set(loss.loss);
  const StepWait wait = store_->rules().CurrentWait();
  waiting_step_->Set(static_cast<double>(wait.step));
  waiting_seconds_->Set(wait.waited_s);
  waiting_rank_->Set(wait.ranks.empty() ? -1 : wait.ranks[0]);
  waiting_ranks_->Set(static_cast<double>(wait.ranks.size()));
  dropped_ranks_->Set(
      static_cast<double>(store_->rules().DroppedRanks().size()));
  pulls_in_flight_->Set(static_cast<double>(service_->pulls_in_progress()));
}

}  // namespace pserve
