// MetricsHttpServer: serves a MetricsRegistry on /metrics with
// prometheus-cpp's pull exposer (see metrics.h).
// Thread-safety: as documented in metrics.h.
#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/metrics.h"

namespace pserve {
namespace {

// The registry's families, collected after a refresh callback has run.
class RefreshedCollectable final : public prometheus::Collectable {
 public:
  RefreshedCollectable(std::shared_ptr<prometheus::Collectable> inner,
                       const std::function<void()>* refresh)
      : inner_(std::move(inner)), refresh_(refresh) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    (*refresh_)();
    return inner_->Collect();
  }

 private:
  const std::shared_ptr<prometheus::Collectable> inner_;
  const std::function<void()>* refresh_;  // owned by the MetricsHttpServer
};

}  // namespace

MetricsHttpServer::MetricsHttpServer(const MetricsRegistry* registry,
                                     std::function<void()> before_scrape)
    : registry_(registry), before_scrape_(std::move(before_scrape)) {}

MetricsHttpServer::~MetricsHttpServer() { Stop(); }

absl::StatusOr<int> MetricsHttpServer::Start(int port,
                                             const std::string& host) {
  if (exposer_) {
    return absl::FailedPreconditionError(
        absl::StrCat("metrics server already serving on port ", port_));
  }
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics port ", port, " is outside [0, 65535]"));
  }
  const std::string address = absl::StrCat(host, ":", port);
  std::unique_ptr<prometheus::Exposer> exposer;
  std::vector<int> ports;
  try {
    // Scrapes are rare and small: two request threads are plenty.
    exposer = std::make_unique<prometheus::Exposer>(address, 2);
    ports = exposer->GetListeningPorts();
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("metrics: cannot serve on ", address,
                     " (in use or not allowed): ", e.what()));
  }
  if (ports.empty()) {
    return absl::UnavailableError(
        absl::StrCat("metrics: no listening port on ", address));
  }
  if (before_scrape_)
    collectable_ = std::make_shared<RefreshedCollectable>(registry_->registry_,
                                                          &before_scrape_);
  else
    collectable_ = registry_->registry_;
  exposer->RegisterCollectable(collectable_);
  exposer_ = std::move(exposer);
  port_ = ports.front();
  return port_;
}

void MetricsHttpServer::Stop() {
  exposer_.reset();
  collectable_.reset();
  port_ = 0;
}

}  // namespace pserve
