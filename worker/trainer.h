// The data-parallel training loop of one ps_worker: declare the model to
// the servers, then per step pull the parameters, run forward and backward
// on this worker's batch, and push the gradient (overlapped with backward,
// see grad_pusher.h); evaluate, and at the end pull the final parameters,
// evaluate and (rank 0) export them.
// Thread-safety: a Trainer is used from one thread (the one that owns its
// backend); `stop` may be set from a signal handler.
#ifndef PSERVE_WORKER_TRAINER_H_
#define PSERVE_WORKER_TRAINER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/ops.h"
#include "worker/client/ps_client.h"
#include "worker/data/data_loader.h"
#include "worker/evaluator.h"
#include "worker/grad_pusher.h"
#include "worker/model/gpt.h"
#include "worker/param_puller.h"
#include "worker/recovery.h"
#include "worker/train_metrics.h"
#include "worker/worker_flags.h"

namespace pserve {

struct TrainResult {
  int64_t steps = 0;      // steps completed
  double train_loss = 0;  // mean loss over the last --log_every steps
  double val_loss = 0;    // last evaluation; NaN without --val_data
  // The job's training loss (every rank, weighted by examples) at
  // global_loss_step, the newest step the servers completed; NaN / -1 none.
  double global_loss = 0;
  int64_t global_loss_step = -1;
  double tokens_per_s = 0;  // this worker's tokens / training seconds
  int stop_signal = 0;      // the signal that stopped training early, or 0
};

class Trainer {
 public:
  // Opens the data, creates the backend and model, connects to the servers
  // and declares the model. `stop` (may be null) is polled after each step:
  // non-zero stops training with that signal number. Errors:
  // NOT_FOUND / INVALID_ARGUMENT / DATA_LOSS / FAILED_PRECONDITION for data
  // or backend problems (one line naming the file or flag), UNAVAILABLE
  // naming a server that never answered, FAILED_PRECONDITION if the servers
  // hold another model. Blocks up to --connect_timeout per server.
  static absl::StatusOr<std::unique_ptr<Trainer>> Create(
      const WorkerOptions& options, const std::atomic<int>* stop);

  // Trains for options.steps steps (or until stopped), then, unless
  // stopped, pulls the final parameters, evaluates and exports (rank 0).
  // A step that fails because a server restarted is recovered (see
  // worker/recovery.h): sync replays from the servers' common step.
  // Errors: the servers' errors (with their messages), INTERNAL if the
  // export cannot be written. Blocks for the whole run.
  absl::StatusOr<TrainResult> Run();

 private:
  // Run() before the final scrape (--metrics_linger).
  absl::StatusOr<TrainResult> RunSteps();
  explicit Trainer(const WorkerOptions& options, const std::atomic<int>* stop);
  absl::Status OpenData();
  absl::Status CreateModel();
  absl::Status ConnectAndDeclare();
  // After a failed step: the step to continue at, or the error.
  absl::StatusOr<int64_t> RecoverFrom(int64_t step, const absl::Status& s);
  absl::Status PullParameters(int64_t step);
  // The pull of `step`'s parameters before its forward: the plain blocking
  // pull, or with the puller only what checkpoint and evaluation need.
  absl::Status PrepareParameters(int64_t step);
  int64_t MinVersion(int64_t step) const;
  absl::Status CheckpointServers(int64_t step);
  absl::StatusOr<double> TrainStep(int64_t step, StepTiming* timing);
  absl::StatusOr<double> OverlappedStep(int64_t step);
  absl::StatusOr<double> AccumulatedStep(int64_t step);
  void AccumulateGradient(int micro, float scale);
  void ClipGradient();
  absl::Status Evaluate(int64_t step);
  absl::Status Finish();
  void LogWindow(int64_t step, const StepTiming& sum);
  void NoteGlobalLoss();  // copies the client's newest global loss
  float* HostParams();

  const WorkerOptions options_;
  const std::atomic<int>* stop_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Gpt> model_;
  std::unique_ptr<PsClient> client_;
  std::unique_ptr<WorkerRecovery> recovery_;
  int64_t first_step_ = 0;  // where Declare said to start
  int recoveries_ = 0;
  std::unique_ptr<GradientPusher> pusher_;
  // CPU backend with --overlap_pull: pulls into the model's parameters
  // group by group, gated per layer in Forward. Null otherwise.
  std::unique_ptr<ParamPuller> puller_;
  std::unique_ptr<TrainMetrics> metrics_;
  std::optional<DataLoader> train_;
  std::optional<Evaluator> eval_;
  bool host_model_ = false;         // CPU backend: model memory is host memory
  std::vector<float> host_params_;  // non-host models: pull target
  std::vector<float> accum_;        // accumulated / clipped gradient
  std::vector<float> grad_copy_;    // non-host models: one micro-batch
  std::vector<int32_t> inputs_, targets_;
  std::vector<double> window_losses_;
  TrainResult result_;
  double train_seconds_ = 0;
  double window_seconds_ = 0;
};

}  // namespace pserve

#endif  // PSERVE_WORKER_TRAINER_H_
