// ProgressTracker: reads the workers' per-window training log lines and
// renders ps_launch's one-line progress. Not thread-safe: owned by the
// launcher's main thread.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tools/launch/launch.h"

namespace pserve {
namespace {

// 1h02m03s, 4m05s, 7s.
std::string Duration(double seconds) {
  const long s = std::lround(std::max(0.0, seconds));
  if (s >= 3600)
    return absl::StrFormat("%dh%02dm%02ds", s / 3600, s % 3600 / 60, s % 60);
  if (s >= 60) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%ds", s);
}

}  // namespace

ProgressTracker::ProgressTracker(int workers, int64_t total_steps)
    : total_steps_(total_steps), workers_(workers) {}

void ProgressTracker::OnWorkerLine(int rank, std::string_view line) {
  if (rank < 0 || rank >= static_cast<int>(workers_.size())) return;
  // ps_worker logs "... [info] step 9 loss 4.3140 tokens/s 1736 pull 0.036s
  // compute 2.287s push 0.036s (per step)"; step is 0-based.
  const size_t at = line.find("] step ");
  if (at == std::string_view::npos) return;
  const std::string rest(line.substr(at + 2));
  long long step = 0;
  double loss = 0, tps = 0, pull = 0;
  if (std::sscanf(rest.c_str(), "step %lld loss %lf tokens/s %lf pull %lfs",
                  &step, &loss, &tps, &pull) != 4)
    return;
  WorkerState& w = workers_[rank];
  w.steps_done = step + 1;
  w.loss = loss;
  w.tokens_per_s = tps;
  w.pull_s = pull;
  w.seen = true;
}

int64_t ProgressTracker::StepsDone() const {
  int64_t done = total_steps_;
  for (const WorkerState& w : workers_) done = std::min(done, w.steps_done);
  return done;
}

std::string ProgressTracker::Line(double elapsed_s) const {
  int seen = 0;
  double loss = 0, tps = 0, pull = 0;
  for (const WorkerState& w : workers_) {
    if (!w.seen) continue;
    ++seen;
    loss += w.loss;
    tps += w.tokens_per_s;
    pull += w.pull_s;
  }
  const int width = static_cast<int>(absl::StrCat(total_steps_).size());
  const int64_t done = StepsDone();
  if (seen == 0)
    return absl::StrFormat(
        "step %*d/%d  starting: workers connect and pull  %s", width, 0,
        total_steps_, Duration(elapsed_s));
  std::string eta = "-";
  if (done > 0)
    eta =
        Duration(elapsed_s * (total_steps_ - done) / static_cast<double>(done));
  return absl::StrFormat(
      "step %*d/%d  loss %.3f  %.0f tok/s  wait %.0fms  %s  ETA %s", width,
      done, total_steps_, loss / seen, tps, 1000.0 * pull / seen,
      Duration(elapsed_s), eta);
}

}  // namespace pserve
