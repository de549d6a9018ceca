// The --model=mlp training loop. Single-threaded apart from PsClient's
// threads (see mlp_trainer.h).
#include "worker/mlp_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "worker/trainer_setup.h"

namespace pserve {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

absl::Status CheckLossFitsTask(MlpLoss loss, TabularTask task) {
  if (task == TabularTask::kClassification && loss == MlpLoss::kMse)
    return absl::InvalidArgumentError(
        "--loss=mse needs a regression file, but --data holds classes: use "
        "--loss=cross_entropy or hinge, or prepare the data with "
        "ps_prepare --task=regression");
  if (task == TabularTask::kRegression && loss != MlpLoss::kMse)
    return absl::InvalidArgumentError(absl::StrCat(
        "--loss=", MlpLossName(loss),
        " needs a classification file, but --data is a regression file: "
        "use --loss=mse"));
  return absl::OkStatus();
}

// Mean loss and accuracy or R^2 of `outputs` (N, K) against `data`.
MlpEval Score(const TabularData& data, const std::vector<float>& outputs,
              double loss) {
  MlpEval e;
  e.loss = loss;
  const int64_t n = data.rows();
  const int k = data.num_outputs();
  if (data.task == TabularTask::kRegression) {
    const double mean =
        std::accumulate(data.targets.begin(), data.targets.end(), 0.0) / n;
    double res = 0, tot = 0;
    for (int64_t i = 0; i < n; ++i) {
      res += (outputs[i] - data.targets[i]) * (outputs[i] - data.targets[i]);
      tot += (data.targets[i] - mean) * (data.targets[i] - mean);
    }
    e.metric = tot > 0 ? 1.0 - res / tot : 0.0;
    return e;
  }
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* row = outputs.data() + i * k;
    correct += std::max_element(row, row + k) - row == data.targets[i];
  }
  e.metric = static_cast<double>(correct) / n;
  return e;
}

}  // namespace

MlpTrainer::MlpTrainer(const WorkerOptions& options,
                       const std::atomic<int>* stop)
    : options_(options), stop_(stop) {
  result_.train_loss = std::nan("");
  result_.global_loss = std::nan("");
}

absl::StatusOr<std::unique_ptr<MlpTrainer>> MlpTrainer::Create(
    const WorkerOptions& options, const std::atomic<int>* stop) {
  std::unique_ptr<MlpTrainer> t(new MlpTrainer(options, stop));
  absl::Status s = t->OpenData();
  if (s.ok()) s = t->CreateModel();
  if (s.ok()) s = t->ConnectAndDeclare();
  if (!s.ok()) return s;
  absl::StatusOr<std::unique_ptr<TrainMetrics>> metrics = TrainMetrics::Create(
      options.metrics_file, options.metrics_port, options.rank);
  if (!metrics.ok()) return metrics.status();
  t->metrics_ = std::move(*metrics);
  return t;
}

absl::Status MlpTrainer::OpenData() {
  absl::StatusOr<TabularData> train = ReadTabular(options_.data);
  if (!train.ok()) return train.status();
  train_data_.emplace(std::move(*train));
  MlpConfig& c = *options_.mlp;
  c.inputs = train_data_->num_features;
  c.outputs = train_data_->num_outputs();
  result_.regression = train_data_->task == TabularTask::kRegression;
  absl::Status s = CheckLossFitsTask(c.loss, train_data_->task);
  if (!s.ok()) return s;
  if (!options_.val_data.empty()) {
    absl::StatusOr<TabularData> val = ReadTabular(options_.val_data);
    if (!val.ok()) return val.status();
    if (val->num_features != c.inputs || val->num_outputs() != c.outputs ||
        val->task != train_data_->task)
      return absl::InvalidArgumentError(
          "--val_data: its features, task or classes differ from --data's; "
          "use the val.tab that ps_prepare wrote beside train.tab");
    val_data_.emplace(std::move(*val));
  }
  absl::StatusOr<TabularBatcher> batcher =
      TabularBatcher::Create(&*train_data_, options_.batch_size, options_.rank,
                             options_.num_workers, options_.seed);
  if (!batcher.ok()) return batcher.status();
  batcher_.emplace(std::move(*batcher));
  x_.resize(static_cast<size_t>(batcher_->rows_per_step()) * c.inputs);
  y_.resize(batcher_->rows_per_step());
  return absl::OkStatus();
}

absl::Status MlpTrainer::CreateModel() {
  absl::StatusOr<std::unique_ptr<Backend>> backend =
      MakeWorkerBackend(options_);
  if (!backend.ok()) return backend.status();
  backend_ = std::move(*backend);
  int rows = batcher_->rows_per_step();
  if (val_data_) rows = std::max<int64_t>(rows, val_data_->rows());
  absl::StatusOr<std::unique_ptr<Mlp>> model =
      Mlp::Create(*options_.mlp, backend_.get(), rows);
  if (!model.ok())
    return absl::InvalidArgumentError(
        absl::StrCat("--model=mlp (", MlpConfigString(*options_.mlp),
                     "): ", model.status().message()));
  model_ = std::move(*model);
  params_.resize(model_->num_parameters());
  grads_.resize(model_->num_parameters());
  return absl::OkStatus();
}

absl::Status MlpTrainer::ConnectAndDeclare() {
  absl::StatusOr<std::unique_ptr<PsClient>> client = ConnectWorker(options_);
  if (!client.ok()) return client.status();
  client_ = std::move(*client);
  const InitRequest declaration =
      JobDeclaration(options_, MlpParameterSpecs(*options_.mlp));
  absl::Status s = client_->Init(declaration);
  if (!s.ok()) return s;
  if (client_->layout().total_params() !=
      static_cast<int64_t>(model_->num_parameters()))
    return absl::InternalError("server layout differs from the model's");
  return absl::OkStatus();
}

absl::StatusOr<int64_t> MlpTrainer::Pull(int64_t step) {
  const int64_t min_version = options_.mode == MODE_SYNC ? step : 0;
  absl::StatusOr<int64_t> version =
      client_->Pull(params_.data(), min_version, step);
  if (version.ok()) model_->SetParameters(params_.data());
  return version;
}

// Rank 0's work between a pull and the step's compute: server checkpoints
// (as the GPT trainer: right after rank 0's pull every chunk is at `step`)
// and evaluation.
absl::Status MlpTrainer::AfterPull(int64_t step) {
  if (options_.rank != 0) return absl::OkStatus();
  if (options_.checkpoint_every > 0 && step > 0 &&
      step % options_.checkpoint_every == 0) {
    auto written = client_->Checkpoint("");
    if (!written.ok()) return written.status();
    spdlog::info("step {}: servers checkpointed into {}", step,
                 written->empty() ? "" : (*written)[0].path());
  }
  if (val_data_ && options_.eval_every > 0 && step % options_.eval_every == 0)
    return Evaluate(step);
  return absl::OkStatus();
}

absl::StatusOr<double> MlpTrainer::Step(int64_t step, StepTiming* timing) {
  Clock::time_point start = Clock::now();
  absl::StatusOr<int64_t> version = Pull(step);
  if (!version.ok()) return version.status();
  timing->pull_s = SecondsSince(start);
  absl::Status s = AfterPull(step);
  if (!s.ok()) return s;
  Clock::time_point compute = Clock::now();
  const int n = batcher_->rows_per_step();
  batcher_->Batch(step, x_.data(), y_.data());
  const double loss = model_->Forward(x_.data(), y_.data(), n);
  model_->Backward(grads_.data());
  timing->compute_s = SecondsSince(compute);
  Clock::time_point push = Clock::now();
  // The example count makes the servers' sync mean weight every row alike,
  // so uneven shards (full batch on N % W != 0 rows) stay exact.
  s = client_->Push(grads_.data(), PushTag{step, n, loss});
  if (!s.ok()) return s;
  timing->push_s = SecondsSince(push);
  timing->total_s = timing->pull_s + timing->compute_s + timing->push_s;
  return loss;
}

absl::Status MlpTrainer::Evaluate(int64_t step) {
  const TabularData& v = *val_data_;
  const int n = static_cast<int>(v.rows());
  const double loss = model_->Forward(v.features.data(), v.targets.data(), n);
  std::vector<float> outputs(static_cast<size_t>(n) * v.num_outputs());
  model_->Outputs(outputs.data());
  result_.val = Score(v, outputs, loss);
  spdlog::info("step {} val_loss {:.4f} val_{} {:.4f} ({} rows)", step, loss,
               result_.regression ? "r2" : "accuracy", result_.val->metric, n);
  metrics_->WriteVal(step, loss);
  return absl::OkStatus();
}

void MlpTrainer::LogWindow(int64_t step) {
  const double n = static_cast<double>(window_losses_.size());
  const double loss =
      std::accumulate(window_losses_.begin(), window_losses_.end(), 0.0) / n;
  const double rows = n * batcher_->rows_per_step();
  const double rps = window_seconds_ > 0 ? rows / window_seconds_ : 0;
  const GlobalLossReport global = client_->global_loss();
  spdlog::info("step {} loss {:.6f} global_loss {:.6f} (step {}) rows/s {:.0f}",
               step, loss, global.loss, global.step, rps);
  if (global.step >= 0) result_.global_loss = global.loss;
  metrics_->WriteTrain(step, loss, rps, train_seconds_,
                       global.step >= 0 ? global.loss : std::nan(""),
                       global.step);
  result_.train_loss = loss;
  window_losses_.clear();
  window_seconds_ = 0;
}

absl::Status MlpTrainer::Finish() {
  absl::StatusOr<int64_t> version = Pull(result_.steps);
  if (!version.ok()) return version.status();
  if (val_data_) {
    absl::Status s = Evaluate(result_.steps);
    if (!s.ok()) return s;
  }
  if (options_.rank != 0 || options_.export_path.empty())
    return absl::OkStatus();
  const TabularData& d = *train_data_;
  MlpNormalization norm;
  norm.input_mean = d.feature_shift;
  norm.input_std = d.feature_scale;
  norm.regression = result_.regression;
  norm.target_mean = d.target_shift;
  norm.target_std = d.target_scale;
  absl::Status s =
      ExportMlp(options_.export_path, *options_.mlp, params_.data(), norm);
  if (s.ok()) spdlog::info("exported {}", options_.export_path);
  return s;
}

absl::StatusOr<MlpTrainResult> MlpTrainer::Run() {
  absl::StatusOr<MlpTrainResult> result = RunSteps();
  if (!result.ok() || result->stop_signal == 0)
    metrics_->AwaitFinalScrape(absl::Seconds(options_.metrics_linger_s));
  return result;
}

absl::StatusOr<MlpTrainResult> MlpTrainer::RunSteps() {
  const int64_t first = client_->resume_step();
  if (first > 0)
    spdlog::info("resuming at step {}: the servers already hold it", first);
  result_.steps = first;
  for (int64_t step = first; step < options_.steps; ++step) {
    StepTiming timing;
    absl::StatusOr<double> loss = Step(step, &timing);
    if (!loss.ok()) return loss.status();
    result_.steps = step + 1;
    train_seconds_ += timing.total_s;
    window_seconds_ += timing.total_s;
    window_losses_.push_back(*loss);
    metrics_->RecordStep(step, *loss, timing, batcher_->rows_per_step());
    const int sig = stop_ != nullptr ? stop_->load() : 0;
    if ((step + 1) % options_.log_every == 0 || step + 1 == options_.steps ||
        sig != 0)
      LogWindow(step);
    if (sig != 0) {
      spdlog::warn("signal {}: stopping after step {}", sig, step);
      result_.stop_signal = sig;
      break;
    }
  }
  result_.rows_per_s =
      train_seconds_ > 0
          ? (result_.steps - first) * batcher_->rows_per_step() / train_seconds_
          : 0;
  if (result_.stop_signal == 0) {
    absl::Status s = Finish();
    if (!s.ok()) return s;
  }
  return result_;
}

}  // namespace pserve
