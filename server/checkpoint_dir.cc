// Naming, listing, verified loading and pruning of a server's periodic
// checkpoint files.
#include "server/checkpoint_dir.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "spdlog/spdlog.h"

namespace pserve {

namespace fs = std::filesystem;

CheckpointDir::CheckpointDir(std::string dir, int server_id)
    : dir_(std::move(dir)), server_id_(server_id) {}

absl::Status CheckpointDir::Prepare(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir) || ::access(dir.c_str(), W_OK) != 0)
    return absl::InvalidArgumentError(
        absl::StrCat("--checkpoint_dir=", dir, " cannot be created or written",
                     ec ? ": " + ec.message() : std::string(),
                     "; give a writable directory"));
  return absl::OkStatus();
}

std::string CheckpointDir::PathFor(int64_t step) const {
  return absl::StrFormat("%s/server-%d-step-%010d.ckpt", dir_, server_id_,
                         step);
}

std::vector<int64_t> CheckpointDir::Steps() const {
  std::vector<int64_t> steps;
  const std::string prefix = absl::StrCat("server-", server_id_, "-step-");
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    const std::string file = entry.path().filename().string();
    absl::string_view name = file;
    int64_t step;
    if (absl::ConsumePrefix(&name, prefix) &&
        absl::ConsumeSuffix(&name, ".ckpt") && absl::SimpleAtoi(name, &step) &&
        step >= 0)
      steps.push_back(step);
  }
  std::sort(steps.rbegin(), steps.rend());
  return steps;
}

absl::Status CheckpointDir::Check(const ServerSnapshot& s,
                                  const std::string& path,
                                  uint64_t model_hash) const {
  if (s.server_id != server_id_)
    return absl::FailedPreconditionError(absl::StrCat(
        path, " was written by server ", s.server_id, ", not ", server_id_));
  if (s.model_hash != model_hash)
    return absl::FailedPreconditionError(
        absl::StrCat(path, " holds another model (declaration hash differs)"));
  return absl::OkStatus();
}

absl::StatusOr<ServerSnapshot> CheckpointDir::Load(int64_t step,
                                                   uint64_t model_hash) const {
  const std::string path = PathFor(step);
  absl::StatusOr<ServerSnapshot> s = ReadCheckpointFile(path);
  if (!s.ok()) return s.status();
  absl::Status ok = Check(*s, path, model_hash);
  if (!ok.ok()) return ok;
  if (s->step != step)
    return absl::DataLossError(
        absl::StrCat(path, " holds step ", s->step, ", not ", step));
  return s;
}

absl::StatusOr<ServerSnapshot> CheckpointDir::LoadNewest(
    uint64_t model_hash) const {
  for (int64_t step : Steps()) {
    absl::StatusOr<ServerSnapshot> s = Load(step, model_hash);
    if (s.ok()) return s;
    spdlog::warn("skipping checkpoint: {}", std::string(s.status().message()));
  }
  return absl::NotFoundError(
      absl::StrCat("no valid checkpoint of server ", server_id_, " in ", dir_));
}

void CheckpointDir::Prune(int keep) const {
  std::vector<int64_t> steps = Steps();
  for (size_t i = std::max(keep, 0); i < steps.size(); ++i) {
    const std::string path = PathFor(steps[i]);
    if (std::remove(path.c_str()) == 0)
      spdlog::info("removed old checkpoint {}", path);
  }
}

}  // namespace pserve
