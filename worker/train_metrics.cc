// JSON-lines and Prometheus progress reports. See train_metrics.h for the
// threading contract.
#include "worker/train_metrics.h"

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "spdlog/spdlog.h"

namespace pserve {
namespace {

std::vector<double> SecondsBuckets() {
  return Histogram::ExponentialBuckets(0.001, 2.0, 16);  // 1 ms .. 33 s
}

std::string Num(double x) {
  if (x != x) return "null";  // NaN is not JSON
  return absl::StrFormat("%.6g", x);
}

}  // namespace

TrainMetrics::TrainMetrics(std::FILE* file, int rank)
    : file_(file),
      rank_(rank),
      registry_({{"role", "worker"}, {"rank", std::to_string(rank)}}),
      http_(&registry_, [this] {
        absl::MutexLock lock(&scrape_mu_);
        ++scrapes_;
      }) {
  step_ = registry_.AddGauge("pserve_worker_step", "Last completed step.");
  loss_ = registry_.AddGauge("pserve_worker_loss", "Training loss.");
  val_loss_ = registry_.AddGauge("pserve_worker_val_loss", "Validation loss.");
  global_loss_ = registry_.AddGauge(
      "pserve_worker_global_loss",
      "The job's training loss (all ranks, example-weighted), newest step.");
  tokens_per_s_ = registry_.AddGauge("pserve_worker_tokens_per_second",
                                     "Tokens per second of the last step.");
  tokens_ = registry_.AddCounter("pserve_worker_tokens_total",
                                 "Training tokens processed.");
  step_s_ = registry_.AddHistogram("pserve_worker_step_seconds",
                                   "Whole step time.", SecondsBuckets());
  pull_s_ = registry_.AddHistogram("pserve_worker_pull_seconds",
                                   "Parameter pull time.", SecondsBuckets());
  compute_s_ =
      registry_.AddHistogram("pserve_worker_compute_seconds",
                             "Forward and backward time.", SecondsBuckets());
  push_s_ = registry_.AddHistogram(
      "pserve_worker_push_seconds",
      "Gradient push time not hidden behind backward.", SecondsBuckets());
}

TrainMetrics::~TrainMetrics() {
  http_.Stop();
  if (file_ != nullptr) std::fclose(file_);
}

absl::StatusOr<std::unique_ptr<TrainMetrics>> TrainMetrics::Create(
    const std::string& metrics_file, int port, int rank) {
  std::FILE* file = nullptr;
  if (!metrics_file.empty()) {
    file = std::fopen(metrics_file.c_str(), "a");
    if (file == nullptr)
      return absl::InternalError(absl::StrCat("--metrics_file=", metrics_file,
                                              ": ", std::strerror(errno)));
  }
  std::unique_ptr<TrainMetrics> m(new TrainMetrics(file, rank));
  if (port >= 0) {
    absl::StatusOr<int> bound = m->http_.Start(port);
    if (!bound.ok()) return bound.status();
    spdlog::info("Prometheus metrics on :{}/metrics", *bound);
  }
  return m;
}

void TrainMetrics::RecordStep(int64_t step, double loss,
                              const StepTiming& timing, int64_t tokens) {
  step_->Set(static_cast<double>(step));
  loss_->Set(loss);
  tokens_->Increment(static_cast<double>(tokens));
  if (timing.total_s > 0) tokens_per_s_->Set(tokens / timing.total_s);
  step_s_->Observe(timing.total_s);
  pull_s_->Observe(timing.pull_s);
  compute_s_->Observe(timing.compute_s);
  push_s_->Observe(timing.push_s);
}

void TrainMetrics::WriteTrain(int64_t step, double loss, double tokens_per_s,
                              double elapsed_s, double global_loss,
                              int64_t global_loss_step) {
  if (global_loss == global_loss) global_loss_->Set(global_loss);
  WriteLine(absl::StrCat(
      "{\"kind\":\"train\",\"step\":", step, ",\"loss\":", Num(loss),
      ",\"global_loss\":", Num(global_loss), ",\"global_loss_step\":",
      global_loss_step, ",\"tokens_per_s\":", Num(tokens_per_s),
      ",\"elapsed_s\":", Num(elapsed_s), ",\"rank\":", rank_, "}"));
}

void TrainMetrics::WriteVal(int64_t step, double val_loss) {
  val_loss_->Set(val_loss);
  WriteLine(absl::StrCat("{\"kind\":\"val\",\"step\":", step, ",\"val_loss\":",
                         Num(val_loss), ",\"rank\":", rank_, "}"));
}

bool TrainMetrics::AwaitFinalScrape(absl::Duration max_wait) {
  if (max_wait <= absl::ZeroDuration() || http_.port() == 0) return false;
  absl::MutexLock lock(&scrape_mu_);
  const int64_t before = scrapes_;
  spdlog::info("keeping /metrics up for a final scrape (at most {})",
               absl::FormatDuration(max_wait));
  auto scraped = [this, before]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(scrape_mu_) {
    return scrapes_ > before;
  };
  return scrape_mu_.AwaitWithTimeout(absl::Condition(&scraped), max_wait);
}

void TrainMetrics::WriteLine(const std::string& line) {
  if (file_ == nullptr) return;
  std::fprintf(file_, "%s\n", line.c_str());
  std::fflush(file_);
}

}  // namespace pserve
