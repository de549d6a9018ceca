// MetricsHttpServer: serves a MetricsRegistry on /metrics with
// prometheus-cpp's pull exposer (see metrics.h).
// Thread-safety: as documented in metrics.h.
#include <prometheus/exposer.h>
#include <prometheus/registry.h>

#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/metrics.h"

namespace pserve {

MetricsHttpServer::MetricsHttpServer(const MetricsRegistry* registry)
    : registry_(registry) {}

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
  exposer->RegisterCollectable(registry_->registry_);
  exposer_ = std::move(exposer);
  port_ = ports.front();
  return port_;
}

void MetricsHttpServer::Stop() {
  exposer_.reset();
  port_ = 0;
}

}  // namespace pserve
