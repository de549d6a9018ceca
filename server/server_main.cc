// ps_server: one parameter-server shard. Parses and checks flags (a flag
// that makes no sense exits 2 with one line saying why), serves the
// ParameterServer and standard health services over gRPC until SIGTERM or
// SIGINT, then drains and exits 0. Threads: main waits for a signal; gRPC
// owns the handler threads; main owns one watcher thread (dead workers).
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/cli.h"
#include "common/consistency_mode.h"
#include "common/logging.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "server/auth.h"
#include "server/server_flags.h"
#include "server/server_metrics.h"
#include "server/service.h"
#include "spdlog/spdlog.h"

namespace {

void WritePortFile(const std::string& path, int port) {
  if (path.empty()) return;
  const std::string tmp = path + ".tmp";
  std::ofstream(tmp) << port << "\n";
  std::rename(tmp.c_str(), path.c_str());
}

int WaitForSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

}  // namespace

int main(int argc, char** argv) {
  pserve::ReexecWithHugePageMalloc(argv);
  pserve::InitCommandLine(
      argc, argv,
      "a pserve parameter-server shard.\n"
      "Example: ps_server --port=7070 --server_id=0 --num_servers=2 "
      "--num_workers=4 --mode=sync --optimizer=adamw --lr=3e-4",
      {"server/"});
  absl::StatusOr<pserve::ServerOptions> options =
      pserve::ServerOptionsFromFlags();
  if (!options.ok()) {
    std::fprintf(stderr, "ps_server: %s\n",
                 std::string(options.status().message()).c_str());
    return 2;
  }
  absl::Status s = pserve::SetupLogging("server", options->config.server_id,
                                        options->log_level);
  if (!s.ok()) {
    std::fprintf(stderr, "ps_server: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  absl::StatusOr<pserve::ServerSecurity> security =
      pserve::LoadServerSecurity(options->security_files);
  if (!security.ok()) {
    std::fprintf(stderr, "ps_server: %s\n",
                 std::string(security.status().message()).c_str());
    return 2;
  }
  pserve::KeepLargeAllocationsWarm();
  // Block the stop signals in every thread; main receives them with sigwait.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  pserve::ShardStore store(options->config);
  pserve::ServerRecovery recovery(&store, options->checkpoints,
                                  options->restore_from);
  pserve::ParameterServerService service(&store, &recovery, options->limits);
  pserve::ServerMetrics metrics(&store, &service);
  if (security->auth != nullptr) {
    std::shared_ptr<pserve::TokenAuthProcessor> auth = security->auth;
    metrics.WatchUnauthenticated([auth] { return auth->refused(); });
  }
  if (options->metrics_port >= 0) {
    absl::StatusOr<int> mport = metrics.Start(options->metrics_port);
    if (!mport.ok()) {
      std::fprintf(stderr, "ps_server: --metrics_port=%d: %s\n",
                   options->metrics_port,
                   std::string(mport.status().message()).c_str());
      return 1;
    }
    service.set_update_histogram(metrics.update_seconds());
    if (!options->port_file.empty())
      WritePortFile(options->port_file + ".metrics", *mport);
    spdlog::info("Prometheus metrics on :{}/metrics", *mport);
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(
      absl::StrCat(options->bind_address, ":", options->port),
      security->credentials, &port);
  pserve::ConfigureServerBuilder(*options, builder);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr,
                 "ps_server: cannot listen on %s:%d (in use? try another "
                 "--port, or --port=0 for a free one)\n",
                 options->bind_address.c_str(), options->port);
    return 1;
  }
  WritePortFile(options->port_file, port);
  spdlog::info(
      "listening on {}:{} ({}; {} of {} servers, {} workers, mode {}, {}, "
      "incarnation {:016x})",
      options->bind_address, port, security->summary, options->config.server_id,
      options->config.num_servers, options->config.num_workers,
      pserve::ConsistencyModeName(options->config.mode),
      pserve::OptimizerKindName(options->config.optimizer.kind),
      recovery.incarnation());
  // Owned by main: logs sync steps that wait for a rank, drops (--elastic).
  absl::Notification stop_watch;
  std::thread watcher([&] { store.WatchWorkers(stop_watch); });
  const int sig = WaitForSignal();
  spdlog::info("signal {}: shutting down", sig);
  stop_watch.Notify();
  watcher.join();
  service.Stop();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  metrics.Stop();
  const auto& c = service.counters();
  spdlog::info(
      "served {} pushes ({} bytes in), {} pulls ({} bytes out), {} updates",
      c.pushes.load(), c.bytes_in.load(), c.pulls.load(), c.bytes_out.load(),
      store.updates_applied());
  return 0;
}
