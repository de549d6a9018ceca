// The ps_worker training loop. Single-threaded apart from gRPC's callback
// threads, which finish PsClient's tickets (see trainer.h).
#include "worker/trainer.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "worker/model/export.h"
#include "worker/trainer_setup.h"

namespace pserve {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

Trainer::Trainer(const WorkerOptions& options, const std::atomic<int>* stop)
    : options_(options), stop_(stop) {
  result_.val_loss = kNaN;
  result_.train_loss = kNaN;
  result_.global_loss = kNaN;
}

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::Create(
    const WorkerOptions& options, const std::atomic<int>* stop) {
  std::unique_ptr<Trainer> t(new Trainer(options, stop));
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

absl::Status Trainer::OpenData() {
  const WorkerOptions& o = options_;
  absl::StatusOr<DataLoader> train =
      DataLoader::Open(o.data, o.batch_size, o.seq_len, o.rank, o.num_workers,
                       o.seed, o.config.vocab_size);
  if (!train.ok()) return train.status();
  train_.emplace(std::move(*train));
  if (!o.val_data.empty()) {
    absl::StatusOr<Evaluator> eval =
        Evaluator::Open(o.val_data, o.batch_size, o.seq_len,
                        o.config.vocab_size, o.eval_batches);
    if (!eval.ok()) return eval.status();
    eval_.emplace(std::move(*eval));
  }
  const size_t n = static_cast<size_t>(o.batch_size) * o.seq_len;
  inputs_.resize(n);
  targets_.resize(n);
  return absl::OkStatus();
}

absl::Status Trainer::CreateModel() {
  absl::StatusOr<std::unique_ptr<Backend>> backend =
      MakeWorkerBackend(options_);
  if (!backend.ok()) return backend.status();
  backend_ = std::move(*backend);
  host_model_ = ModelOnHost(options_);
  absl::StatusOr<std::unique_ptr<Gpt>> model =
      Gpt::Create(options_.config, backend_.get());
  if (!model.ok()) return model.status();
  model_ = std::move(*model);
  if (!host_model_) host_params_.resize(model_->num_parameters());
  return absl::OkStatus();
}

absl::Status Trainer::ConnectAndDeclare() {
  absl::StatusOr<std::unique_ptr<PsClient>> client = ConnectWorker(options_);
  if (!client.ok()) return client.status();
  client_ = std::move(*client);
  const InitRequest declaration =
      JobDeclaration(options_, GptParameterSpecs(options_.config));
  recovery_ = std::make_unique<WorkerRecovery>(
      client_.get(), declaration, options_.rank,
      absl::Seconds(options_.server_timeout_s));
  absl::StatusOr<int64_t> first = recovery_->Declare();
  if (!first.ok()) return first.status();
  first_step_ = *first;
  const ModelLayout& layout = client_->layout();
  for (int t = 0; t < kNumGptTensors; ++t)
    if (layout.tensor_offset(t) !=
        static_cast<int64_t>(model_->tensor_offset(t)))
      return absl::InternalError("server layout differs from the model's");
  pusher_ = std::make_unique<GradientPusher>(client_.get(), model_.get(),
                                             host_model_);
  if (host_model_ && options_.overlap_pull)
    puller_ =
        std::make_unique<ParamPuller>(client_.get(), options_.config.num_layers,
                                      pusher_->schedule(), model_->params());
  return absl::OkStatus();
}

float* Trainer::HostParams() {
  return host_model_ ? model_->params() : host_params_.data();
}

int64_t Trainer::MinVersion(int64_t step) const {
  return options_.mode == MODE_SYNC ? step : 0;
}

absl::Status Trainer::PrepareParameters(int64_t step) {
  if (puller_ == nullptr) return PullParameters(step);
  if (!puller_->Started(step)) puller_->StartAll(step, MinVersion(step));
  const bool checkpoint = options_.rank == 0 && options_.checkpoint_every > 0 &&
                          step > 0 && step % options_.checkpoint_every == 0;
  const bool eval = eval_ && options_.rank == 0 && options_.eval_every > 0 &&
                    step % options_.eval_every == 0;
  // Only OverlappedStep's forward waits per layer.
  const bool gated = options_.grad_accum_steps == 1 && options_.grad_clip == 0;
  return checkpoint || eval || !gated ? puller_->WaitAll() : absl::OkStatus();
}

absl::Status Trainer::PullParameters(int64_t step) {
  if (puller_ != nullptr) puller_->Reset();  // nothing else writes params
  const int64_t min_version = MinVersion(step);
  const PsClient::Ticket pull =
      client_->PullAsync(HostParams(), min_version, step);
  const Clock::time_point start = Clock::now();
  while (!client_->WaitFor(pull, absl::Seconds(60)))
    spdlog::warn(
        "step {}: waiting {:.0f}s for the servers: {}", step,
        SecondsSince(start),
        options_.mode == MODE_SYNC
            ? absl::StrCat("some worker has not pushed step ", step - 1)
            : std::string("the slowest worker is too far behind"));
  absl::Status s = client_->Wait(pull);
  if (!s.ok()) return s;
  if (!host_model_) model_->SetParameters(host_params_.data());
  return absl::OkStatus();
}

absl::StatusOr<double> Trainer::OverlappedStep(int64_t step) {
  train_->NextBatch(inputs_.data(), targets_.data());
  absl::StatusOr<float> loss = model_->Forward(
      inputs_.data(), targets_.data(), options_.batch_size, options_.seq_len,
      puller_ ? puller_->ForwardGate() : nullptr);
  if (!loss.ok()) return loss.status();
  if (puller_ != nullptr) {
    absl::Status pulled = puller_->WaitAll();
    if (!pulled.ok()) return pulled;
  }
  const PushTag tag{step, options_.batch_size * int64_t{options_.seq_len},
                    static_cast<double>(*loss)};
  absl::Status s = model_->Backward(pusher_->OverlapCallback(tag));
  if (!s.ok()) return s;
  return static_cast<double>(*loss);
}

void Trainer::AccumulateGradient(int micro, float scale) {
  const size_t n = model_->num_parameters();
  const float* g = model_->grads();
  if (!host_model_) {
    grad_copy_.resize(n);
    model_->GetGradients(grad_copy_.data());
    g = grad_copy_.data();
  }
  accum_.resize(n);
  if (micro == 0) {
    for (size_t i = 0; i < n; ++i) accum_[i] = g[i] * scale;
  } else {
    for (size_t i = 0; i < n; ++i) accum_[i] += g[i] * scale;
  }
}

void Trainer::ClipGradient() {
  double sum = 0;
  for (float g : accum_) sum += static_cast<double>(g) * g;
  const double norm = std::sqrt(sum);
  if (options_.grad_clip <= 0 || norm <= options_.grad_clip) return;
  const float scale = static_cast<float>(options_.grad_clip / norm);
  for (float& g : accum_) g *= scale;
}

absl::StatusOr<double> Trainer::AccumulatedStep(int64_t step) {
  const int k = options_.grad_accum_steps;
  double loss_sum = 0;
  for (int micro = 0; micro < k; ++micro) {
    train_->NextBatch(inputs_.data(), targets_.data());
    absl::StatusOr<float> loss = model_->Forward(
        inputs_.data(), targets_.data(), options_.batch_size, options_.seq_len);
    if (!loss.ok()) return loss.status();
    absl::Status s = model_->Backward();
    if (!s.ok()) return s;
    AccumulateGradient(micro, 1.0f / static_cast<float>(k));
    loss_sum += *loss;
  }
  ClipGradient();
  const int64_t examples = int64_t{k} * options_.batch_size * options_.seq_len;
  pusher_->PushAll(accum_.data(), PushTag{step, examples, loss_sum / k});
  return loss_sum / k;
}

absl::StatusOr<double> Trainer::TrainStep(int64_t step, StepTiming* timing) {
  Clock::time_point start = Clock::now();
  absl::Status s = PrepareParameters(step);
  if (!s.ok()) return s;
  timing->pull_s = SecondsSince(start);
  if (options_.rank == 0 && options_.checkpoint_every > 0 && step > 0 &&
      step % options_.checkpoint_every == 0) {
    s = CheckpointServers(step);
    if (!s.ok()) return s;
  }
  if (eval_ && options_.rank == 0 && options_.eval_every > 0 &&
      step % options_.eval_every == 0) {
    s = Evaluate(step);
    if (!s.ok()) return s;
  }
  Clock::time_point compute = Clock::now();
  const bool overlap =
      options_.grad_accum_steps == 1 && options_.grad_clip == 0;
  absl::StatusOr<double> loss =
      overlap ? OverlappedStep(step) : AccumulatedStep(step);
  timing->compute_s = SecondsSince(compute);
  if (puller_ != nullptr) {  // the forward's waits for parameters
    const double waited = puller_->TakeWaitSeconds();
    timing->pull_s += waited;
    timing->compute_s -= waited;
  }
  Clock::time_point push = Clock::now();
  s = pusher_->Wait();  // before the gradient buffers change again
  if (!loss.ok()) return loss.status();
  if (!s.ok()) return s;
  // The next step's pull follows every push of this one (sync: the servers
  // answer once the step is applied), and its forward starts as the first
  // groups arrive (docs/architecture.md, "Overlapping the pull").
  if (puller_ != nullptr && !puller_->Started(step + 1))
    puller_->StartAll(step + 1, MinVersion(step + 1));
  timing->push_s = SecondsSince(push);
  timing->total_s = timing->pull_s + timing->compute_s + timing->push_s;
  return loss;
}

// Called right after rank 0's pull of `step`: in sync mode every chunk is
// then at version `step` and none can move on until rank 0 pushes, so the
// servers' files form one consistent snapshot.
absl::Status Trainer::CheckpointServers(int64_t step) {
  auto written = client_->Checkpoint("");
  if (!written.ok()) return written.status();
  int64_t bytes = 0;
  for (const CheckpointResponse& r : *written) bytes += r.bytes();
  spdlog::info("step {}: servers checkpointed {} bytes into {}", step, bytes,
               written->empty() ? "" : (*written)[0].path());
  return absl::OkStatus();
}

absl::Status Trainer::Evaluate(int64_t step) {
  absl::StatusOr<double> loss = eval_->Evaluate(model_.get());
  if (!loss.ok()) return loss.status();
  result_.val_loss = *loss;
  spdlog::info("step {} val_loss {:.4f} ({} batches)", step, *loss,
               eval_->num_batches());
  metrics_->WriteVal(step, *loss);
  return absl::OkStatus();
}

void Trainer::LogWindow(int64_t step, const StepTiming& sum) {
  const double n = static_cast<double>(window_losses_.size());
  const double loss =
      std::accumulate(window_losses_.begin(), window_losses_.end(), 0.0) / n;
  const double tokens =
      n * options_.batch_size * options_.seq_len * options_.grad_accum_steps;
  const double tps = sum.total_s > 0 ? tokens / sum.total_s : 0;
  NoteGlobalLoss();
  spdlog::info(
      "step {} loss {:.4f} tokens/s {:.0f} pull {:.3f}s compute {:.3f}s "
      "push {:.3f}s (per step) global_loss {:.4f} (step {})",
      step, loss, tps, sum.pull_s / n, sum.compute_s / n, sum.push_s / n,
      result_.global_loss, result_.global_loss_step);
  metrics_->WriteTrain(step, loss, tps, train_seconds_, result_.global_loss,
                       result_.global_loss_step);
  result_.train_loss = loss;
  window_losses_.clear();
}

void Trainer::NoteGlobalLoss() {
  const GlobalLossReport g = client_->global_loss();
  if (g.step < 0) return;
  result_.global_loss = g.loss;
  result_.global_loss_step = g.step;
}

absl::Status Trainer::Finish() {
  absl::Status s = puller_ != nullptr && puller_->Started(result_.steps)
                       ? puller_->WaitAll()
                       : PullParameters(result_.steps);
  if (!s.ok()) return s;
  NoteGlobalLoss();  // the final pull carries the last step's
  if (eval_) {
    s = Evaluate(result_.steps);
    if (!s.ok()) return s;
  }
  if (options_.rank != 0 || options_.export_path.empty())
    return absl::OkStatus();
  s = ExportModel(options_.export_path, options_.config, HostParams());
  if (s.ok())
    spdlog::info("exported {} and {}", options_.export_path,
                 SafetensorsPathFor(options_.export_path));
  return s;
}

absl::StatusOr<int64_t> Trainer::RecoverFrom(int64_t step,
                                             const absl::Status& s) {
  constexpr int kMaxRecoveries = 100;
  if (++recoveries_ > kMaxRecoveries)
    return absl::Status(s.code(),
                        absl::StrCat(s.message(), " (after ", kMaxRecoveries,
                                     " recoveries: giving up)"));
  if (puller_ != nullptr) puller_->Reset();  // pulls of a failed step
  absl::StatusOr<int64_t> next = recovery_->Recover(step, s);
  if (!next.ok()) return next.status();
  train_->Seek(*next);
  result_.steps = *next;
  window_losses_.clear();
  return next;
}

absl::StatusOr<TrainResult> Trainer::Run() {
  absl::StatusOr<TrainResult> result = RunSteps();
  if (!result.ok() || result->stop_signal == 0)
    metrics_->AwaitFinalScrape(absl::Seconds(options_.metrics_linger_s));
  return result;
}

absl::StatusOr<TrainResult> Trainer::RunSteps() {
  StepTiming window;
  const int64_t tokens_per_step = static_cast<int64_t>(options_.batch_size) *
                                  options_.seq_len * options_.grad_accum_steps;
  const int64_t first = first_step_;
  if (first > 0) {
    spdlog::info("resuming at step {}: the servers already hold it", first);
    train_->Seek(first);
    result_.steps = first;
  }
  for (int64_t step = first; step < options_.steps; ++step) {
    StepTiming timing;
    absl::StatusOr<double> loss = TrainStep(step, &timing);
    if (!loss.ok()) {
      absl::StatusOr<int64_t> next = RecoverFrom(step, loss.status());
      if (!next.ok()) return next.status();
      step = *next - 1;  // the loop's ++step continues at *next
      continue;
    }
    result_.steps = step + 1;
    train_seconds_ += timing.total_s;
    window.pull_s += timing.pull_s, window.compute_s += timing.compute_s;
    window.push_s += timing.push_s, window.total_s += timing.total_s;
    window_losses_.push_back(*loss);
    metrics_->RecordStep(step, *loss, timing, tokens_per_step);
    const bool last = step + 1 == options_.steps;
    const int sig = stop_ != nullptr ? stop_->load() : 0;
    if ((step + 1) % options_.log_every == 0 || last || sig != 0) {
      LogWindow(step, window);
      window = StepTiming();
    }
    if (sig != 0) {
      spdlog::warn("signal {}: stopping after step {}", sig, step);
      result_.stop_signal = sig;
      break;
    }
  }
  result_.tokens_per_s =
      train_seconds_ > 0
          ? (result_.steps - first) * tokens_per_step / train_seconds_
          : 0;
  if (result_.stop_signal == 0) {
    absl::Status s = Finish();
    if (!s.ok()) return s;
  } else if (puller_ != nullptr) {
    puller_->Reset();  // a sync pull of the next step may never be answered
  }
  return result_;
}

}  // namespace pserve
