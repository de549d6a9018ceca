// The data-parallel training loop of a --model=mlp ps_worker: read the
// tabular data (this worker's rows, see TabularBatcher), declare the MLP to
// the servers (which initialise it from (seed, name, index)), then per
// step pull the parameters, run forward and backward on this worker's
// rows, and push the gradient; evaluate on the validation file (loss plus
// accuracy or R^2) every --eval_every steps and at the end; rank 0 exports
// the final model with its normalisation (safetensors).
// Thread-safety: used from one thread (the one that owns its backend);
// `stop` may be set from a signal handler.
#ifndef PSERVE_WORKER_MLP_TRAINER_H_
#define PSERVE_WORKER_MLP_TRAINER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/ops.h"
#include "worker/client/ps_client.h"
#include "worker/data/tabular.h"
#include "worker/model/mlp.h"
#include "worker/train_metrics.h"
#include "worker/worker_flags.h"

namespace pserve {

// One evaluation on the validation rows.
struct MlpEval {
  double loss = 0;    // mean loss (regression: in normalised units)
  double metric = 0;  // accuracy (classification) or R^2 (regression)
};

struct MlpTrainResult {
  int64_t steps = 0;
  double train_loss = 0;  // mean over the last --log_every steps
  // The servers' example-weighted mean of every rank's loss at the latest
  // step they all reported (NaN before the first).
  double global_loss = 0;
  std::optional<MlpEval> val;  // the last evaluation; none without val data
  bool regression = false;
  double rows_per_s = 0;  // this worker's rows / training seconds
  int stop_signal = 0;
};

class MlpTrainer {
 public:
  // Reads the data, builds the model on its backend, connects and declares.
  // INVALID_ARGUMENT naming the flag for a loss that does not fit the
  // data's task (mse on a classification file, cross_entropy or hinge on a
  // regression file) or a val file that differs from the train file;
  // otherwise the errors of ReadTabular, TabularBatcher, the backend and
  // the servers (as Trainer::Create). Blocks up to --connect_timeout.
  static absl::StatusOr<std::unique_ptr<MlpTrainer>> Create(
      const WorkerOptions& options, const std::atomic<int>* stop);

  // Trains options.steps steps (or until stopped), then, unless stopped,
  // pulls the final parameters, evaluates and (rank 0) exports. Errors: the
  // servers', INTERNAL if the export cannot be written. Blocks, then
  // (unless stopped) up to --metrics_linger for a final scrape of /metrics.
  absl::StatusOr<MlpTrainResult> Run();

 private:
  // Run() before the final scrape (--metrics_linger).
  absl::StatusOr<MlpTrainResult> RunSteps();
  MlpTrainer(const WorkerOptions& options, const std::atomic<int>* stop);
  absl::Status OpenData();
  absl::Status CreateModel();
  absl::Status ConnectAndDeclare();
  absl::StatusOr<double> Step(int64_t step, StepTiming* timing);
  absl::StatusOr<int64_t> Pull(int64_t step);
  absl::Status AfterPull(int64_t step);
  absl::Status Evaluate(int64_t step);
  absl::Status Finish();
  void LogWindow(int64_t step);

  WorkerOptions options_;  // options_.mlp has the data's widths filled in
  const std::atomic<int>* stop_;
  std::optional<TabularData> train_data_, val_data_;
  std::optional<TabularBatcher> batcher_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Mlp> model_;
  std::unique_ptr<PsClient> client_;
  std::unique_ptr<TrainMetrics> metrics_;
  std::vector<float> params_, grads_;  // host, flat (num_parameters)
  std::vector<float> x_, y_;           // this step's rows (N, F), (N)
  std::vector<double> window_losses_;
  MlpTrainResult result_;
  double train_seconds_ = 0, window_seconds_ = 0;
};

}  // namespace pserve

#endif  // PSERVE_WORKER_MLP_TRAINER_H_
