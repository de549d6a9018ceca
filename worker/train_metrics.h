// Where a worker reports its progress: the --metrics_file JSON-lines log
// and Prometheus metrics served on --metrics_port (common/metrics.h).
// Thread-safety: Record*, Write* and AwaitFinalScrape are called from the
// training thread only; the Prometheus metrics they update are atomics that
// the HTTP server's threads read concurrently.
#ifndef PSERVE_WORKER_TRAIN_METRICS_H_
#define PSERVE_WORKER_TRAIN_METRICS_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics.h"

namespace pserve {

// One training step's timings, in seconds.
struct StepTiming {
  double pull_s = 0, compute_s = 0, push_s = 0, total_s = 0;
};

class TrainMetrics {
 public:
  // Opens `metrics_file` for appending (empty: none) and, for port >= 0,
  // serves /metrics on it. INTERNAL naming the file if it cannot be opened;
  // UNAVAILABLE if the port cannot be bound. Blocks briefly.
  static absl::StatusOr<std::unique_ptr<TrainMetrics>> Create(
      const std::string& metrics_file, int port, int rank);
  ~TrainMetrics();

  // Every step: updates the Prometheus step, loss and timing metrics.
  void RecordStep(int64_t step, double loss, const StepTiming& timing,
                  int64_t tokens);
  // Every --log_every steps: one {"kind":"train",...} line. global_loss is
  // the job's loss at global_loss_step (from the servers; NaN: none yet).
  void WriteTrain(int64_t step, double loss, double tokens_per_s,
                  double elapsed_s, double global_loss,
                  int64_t global_loss_step);
  // Every evaluation: one {"kind":"val",...} line and the val-loss gauge.
  void WriteVal(int64_t step, double val_loss);
  // After the last step (--metrics_linger): blocks until a scrape that
  // began after this call has collected the metrics, so a batch job's final
  // values reach Prometheus, or until `max_wait` passes. Returns at once
  // when `max_wait` <= 0 or nothing is served. Returns whether a scrape came.
  bool AwaitFinalScrape(absl::Duration max_wait);
  // The port /metrics is served on, or 0 when not serving.
  int metrics_port() const { return http_.port(); }

 private:
  TrainMetrics(std::FILE* file, int rank);
  void WriteLine(const std::string& line);

  std::FILE* file_;  // null when no --metrics_file
  int rank_;
  absl::Mutex scrape_mu_;
  int64_t scrapes_ ABSL_GUARDED_BY(scrape_mu_) = 0;  // /metrics collections
  MetricsRegistry registry_;
  MetricsHttpServer http_;
  Gauge *step_, *loss_, *val_loss_, *tokens_per_s_, *global_loss_;
  Counter* tokens_;
  Histogram *step_s_, *pull_s_, *compute_s_, *push_s_;
};

}  // namespace pserve

#endif  // PSERVE_WORKER_TRAIN_METRICS_H_
