// MetricsHttpServer: serves a MetricsRegistry's text rendering on /metrics
// over cpp-httplib (see metrics.h).
// Thread-safety: as documented in metrics.h.
#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/metrics.h"

namespace pserve {

MetricsHttpServer::MetricsHttpServer(const MetricsRegistry* registry)
    : registry_(registry) {}

MetricsHttpServer::~MetricsHttpServer() { Stop(); }

absl::StatusOr<int> MetricsHttpServer::Start(int port,
                                             const std::string& host) {
  if (server_) {
    return absl::FailedPreconditionError(
        absl::StrCat("metrics server already serving on port ", port_));
  }
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics port ", port, " is outside [0, 65535]"));
  }
  auto server = std::make_unique<httplib::Server>();
  // Scrapes are rare and small: two request threads are plenty.
  server->new_task_queue = [] { return new httplib::ThreadPool(2); };
  // httplib's default sets SO_REUSEPORT, which lets a second process bind the
  // same port silently; SO_REUSEADDR alone still allows a quick restart.
  server->set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  server->set_read_timeout(5, 0);
  server->set_write_timeout(5, 0);
  const MetricsRegistry* registry = registry_;
  server->Get("/metrics",
              [registry](const httplib::Request&, httplib::Response& res) {
                res.set_content(registry->RenderPrometheusText(),
                                "text/plain; version=0.0.4; charset=utf-8");
              });
  server->Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("<a href=\"/metrics\">/metrics</a>\n", "text/html");
  });

  int bound = port;
  if (port == 0) {
    bound = server->bind_to_any_port(host);
    if (bound < 0) {
      return absl::UnavailableError(
          absl::StrCat("metrics: cannot bind any port on ", host));
    }
  } else if (!server->bind_to_port(host, port)) {
    return absl::UnavailableError(absl::StrCat(
        "metrics: cannot bind ", host, ":", port, " (in use or not allowed)"));
  }

  httplib::Server* raw = server.get();
  auto finished = std::make_shared<std::atomic<bool>>(false);
  thread_ = std::thread([raw, finished] {
    raw->listen_after_bind();
    finished->store(true);
  });
  // Wait until the listener runs, so a Stop() right after Start() is never
  // lost (httplib ignores stop() before its accept loop has started).
  while (!raw->is_running()) {
    if (finished->load()) {
      thread_.join();
      return absl::UnavailableError(
          absl::StrCat("metrics: listener on ", host, ":", bound, " failed"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  server_ = std::move(server);
  port_ = bound;
  return bound;
}

void MetricsHttpServer::Stop() {
  if (!server_) return;
  server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
  port_ = 0;
}

}  // namespace pserve
