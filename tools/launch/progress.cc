// ProgressTracker: reads the workers' per-window training log lines and
// renders ps_launch's one-line progress. Not thread-safe: owned by the
// launcher's main thread.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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

// Reads the number after " key " in `fields` (a trailing unit such as the
// "s" of "0.036s" is ignored). Returns false when the key is absent.
bool Field(const char* fields, const char* key, double* value) {
  const std::string needle = absl::StrCat(" ", key, " ");
  const char* at = std::strstr(fields, needle.c_str());
  if (at == nullptr) return false;
  char* end = nullptr;
  const double v = std::strtod(at + needle.size(), &end);
  if (end == at + needle.size()) return false;
  *value = v;
  return true;
}

}  // namespace

ProgressTracker::ProgressTracker(int workers, int64_t total_steps)
    : total_steps_(total_steps), workers_(workers) {}

void ProgressTracker::OnWorkerLine(int rank, std::string_view line) {
  if (rank < 0 || rank >= static_cast<int>(workers_.size())) return;
  // The training window lines of both trainers; step is 0-based:
  //   "... [info] step 9 loss 4.3140 tokens/s 1736 pull 0.036s compute
  //    2.287s push 0.036s (per step) global_loss 4.3021 (step 8)"
  //   "... [info] step 9 loss 0.512 global_loss 0.498 (step 8) rows/s 9120"
  const size_t at = line.find("] step ");
  if (at == std::string_view::npos) return;
  const std::string rest(line.substr(at + 2));
  long long step = 0;
  double loss = 0, rate = 0;
  int used = 0;
  if (std::sscanf(rest.c_str(), "step %lld loss %lf%n", &step, &loss, &used) !=
      2)
    return;
  const char* fields = rest.c_str() + used;
  bool rows = false;
  if (!Field(fields, "tokens/s", &rate)) {
    if (!Field(fields, "rows/s", &rate)) return;  // not a window line
    rows = true;
  }
  WorkerState& w = workers_[rank];
  w.steps_done = step + 1;
  w.loss = loss;
  w.rate = rate;
  w.rows = rows;
  if (!Field(fields, "pull", &w.pull_s)) w.pull_s = -1;
  w.global_step = -1;
  long long gstep = -1;
  const char* g = std::strstr(fields, " global_loss ");
  if (g != nullptr &&
      std::sscanf(g, " global_loss %lf (step %lld)", &w.global_loss, &gstep) ==
          2 &&
      std::isfinite(w.global_loss))
    w.global_step = gstep;
  w.seen = true;
}

int64_t ProgressTracker::StepsDone() const {
  int64_t done = total_steps_;
  for (const WorkerState& w : workers_) done = std::min(done, w.steps_done);
  return done;
}

std::string ProgressTracker::Line(double elapsed_s) const {
  int seen = 0, waits = 0;
  double loss = 0, rate = 0, pull = 0, global = 0;
  int64_t global_step = -1;
  bool rows = false;
  for (const WorkerState& w : workers_) {
    if (!w.seen) continue;
    ++seen;
    loss += w.loss;
    rate += w.rate;
    rows = w.rows;
    if (w.pull_s >= 0) pull += w.pull_s, ++waits;
    if (w.global_step > global_step)
      global_step = w.global_step, global = w.global_loss;
  }
  const int width = static_cast<int>(absl::StrCat(total_steps_).size());
  const int64_t done = StepsDone();
  if (seen == 0)
    return absl::StrFormat(
        "step %*d/%d  starting: workers connect and pull  %s", width, 0,
        total_steps_, Duration(elapsed_s));
  std::string line = absl::StrFormat("step %*d/%d  loss %.3f", width, done,
                                     total_steps_, loss / seen);
  if (global_step >= 0) absl::StrAppendFormat(&line, "  global %.3f", global);
  absl::StrAppendFormat(&line, "  %.0f %s", rate, rows ? "rows/s" : "tok/s");
  if (waits > 0)
    absl::StrAppendFormat(&line, "  wait %.0fms", 1000.0 * pull / waits);
  std::string eta = "-";
  if (done > 0)
    eta =
        Duration(elapsed_s * (total_steps_ - done) / static_cast<double>(done));
  absl::StrAppend(&line, "  ", Duration(elapsed_s), "  ETA ", eta);
  return line;
}

}  // namespace pserve
