// ps_worker: one data-parallel training worker. Parses and checks flags
// (a bad flag, a missing file or bad data exits 2 with one line saying what
// was wrong), trains against the parameter servers, and prints
//   RESULT step=<n> train_loss=<x> val_loss=<y> tokens_per_s=<z>
//          global_loss=<g>
// (g: the job's training loss over every rank at the last completed step)
// as its last stdout line; with --model=mlp
//   RESULT step=<n> train_loss=<x> global_loss=<g> val_loss=<y>
//   val_accuracy=<a> (or
//   val_r2=<r>) rows_per_s=<z>
// (val_* are nan without --val_data). SIGTERM / SIGINT stop training after the
// current step; the worker then prints RESULT and exits 128 + signal (143 /
// 130) without the final evaluation or export. Other failures exit 1. Threads:
// main runs the training loop; PsClient and the metrics server own their
// threads; the signal handler only stores an atomic.
#include <signal.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "common/cli.h"
#include "common/logging.h"
#include "spdlog/spdlog.h"
#include "worker/mlp_trainer.h"
#include "worker/trainer.h"
#include "worker/worker_flags.h"

namespace {

std::atomic<int> g_stop_signal{0};

void OnStopSignal(int sig) { g_stop_signal.store(sig); }

void InstallSignalHandlers() {
  struct sigaction action = {};
  action.sa_handler = &OnStopSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
}

// Bad input (flags, files, data, a model the servers do not hold) is 2.
int ExitCodeFor(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kDataLoss:
      return 2;
    default:
      return 1;
  }
}

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "ps_worker: %s\n", std::string(s.message()).c_str());
  return ExitCodeFor(s);
}

int RunMlp(const pserve::WorkerOptions& options) {
  auto trainer = pserve::MlpTrainer::Create(options, &g_stop_signal);
  if (!trainer.ok()) return Fail(trainer.status());
  absl::StatusOr<pserve::MlpTrainResult> r = (*trainer)->Run();
  if (!r.ok()) return Fail(r.status());
  const double nan = std::nan("");
  std::printf(
      "RESULT step=%lld train_loss=%.6f global_loss=%.6f val_loss=%.6f "
      "val_%s=%.6f rows_per_s=%.1f\n",
      static_cast<long long>(r->steps), r->train_loss, r->global_loss,
      r->val ? r->val->loss : nan, r->regression ? "r2" : "accuracy",
      r->val ? r->val->metric : nan, r->rows_per_s);
  std::fflush(stdout);
  return r->stop_signal != 0 ? 128 + r->stop_signal : 0;
}

}  // namespace

int main(int argc, char** argv) {
  pserve::ReexecWithHugePageMalloc(argv);
  pserve::InitCommandLine(
      argc, argv,
      "a pserve data-parallel training worker.\n"
      "Example: ps_worker --servers=localhost:7070 --rank=0 --num_workers=1 "
      "--data=data/train.bin --val_data=data/val.bin --model=small "
      "--steps=1000 --export=model.bin",
      {"worker/", "common/security_flags"});
  absl::StatusOr<pserve::WorkerOptions> options =
      pserve::WorkerOptionsFromFlags();
  if (!options.ok()) return Fail(options.status());
  absl::Status s =
      pserve::SetupLogging("worker", options->rank, options->log_level);
  if (!s.ok())
    return Fail(
        absl::InvalidArgumentError("--log_level: " + std::string(s.message())));
  pserve::KeepLargeAllocationsWarm();
  InstallSignalHandlers();
  spdlog::info("{}", pserve::DescribeWorkerOptions(*options));
  if (options->mlp) return RunMlp(*options);
  auto trainer = pserve::Trainer::Create(*options, &g_stop_signal);
  if (!trainer.ok()) return Fail(trainer.status());
  absl::StatusOr<pserve::TrainResult> result = (*trainer)->Run();
  if (!result.ok()) return Fail(result.status());
  std::printf(
      "RESULT step=%lld train_loss=%.6f val_loss=%.6f "
      "tokens_per_s=%.1f global_loss=%.6f\n",
      static_cast<long long>(result->steps), result->train_loss,
      result->val_loss, result->tokens_per_s, result->global_loss);
  std::fflush(stdout);
  return result->stop_signal != 0 ? 128 + result->stop_signal : 0;
}
