// Collection of per-chunk copies into whole-server snapshots, and the
// background thread that writes them.
#include "server/checkpointer.h"

#include <utility>

#include "absl/time/clock.h"
#include "spdlog/spdlog.h"

namespace pserve {
namespace {

// Snapshots still missing chunks beyond this many are dropped (async
// chunks may drift apart; each pending snapshot holds a copy of the state).
constexpr size_t kMaxCollecting = 3;

}  // namespace

Checkpointer::Checkpointer(const CheckpointPolicy& policy, int server_id)
    : policy_(policy), dir_(policy.dir, server_id) {}

Checkpointer::~Checkpointer() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (writer_.joinable()) writer_.join();
}

void Checkpointer::Begin(int num_chunks,
                         std::function<void(ServerSnapshot*)> header) {
  absl::MutexLock lock(&mu_);
  num_chunks_ = num_chunks;
  header_ = std::move(header);
  if (policy_.every > 0 && !writer_.joinable())
    writer_ = std::thread([this] { WriterLoop(); });
}

void Checkpointer::Offer(int index, ChunkSnapshot chunk) {
  absl::MutexLock lock(&mu_);
  if (num_chunks_ == 0 || index < 0 || index >= num_chunks_) return;
  const int64_t step = chunk.version;
  Pending& p = collecting_[step];
  if (p.snapshot.chunks.empty()) p.snapshot.chunks.resize(num_chunks_);
  if (p.snapshot.chunks[index].param.empty()) ++p.filled;
  p.snapshot.chunks[index] = std::move(chunk);
  if (p.filled == num_chunks_) {
    p.snapshot.step = step;
    queue_.push_back(std::move(p.snapshot));
    collecting_.erase(step);
  }
  while (collecting_.size() > kMaxCollecting) {
    spdlog::warn("checkpoint of step {} dropped: its chunks drifted apart",
                 collecting_.begin()->first);
    collecting_.erase(collecting_.begin());
  }
}

void Checkpointer::Discard() {
  absl::MutexLock lock(&mu_);
  collecting_.clear();
}

void Checkpointer::WaitIdle() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](Checkpointer* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu_) {
        return c->queue_.empty() && !c->busy_;
      },
      this));
}

int64_t Checkpointer::written() const {
  absl::MutexLock lock(&mu_);
  return written_;
}

void Checkpointer::WriterLoop() {
  while (true) {
    ServerSnapshot s;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Checkpointer* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu_) {
            return !c->queue_.empty() || c->stopping_;
          },
          this));
      if (queue_.empty()) return;  // stopping with nothing left
      s = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    header_(&s);  // outside every lock: it may take the store's
    const absl::Time start = absl::Now();
    const std::string path = dir_.PathFor(s.step);
    absl::StatusOr<int64_t> bytes = WriteCheckpointFile(s, path);
    if (bytes.ok()) {
      spdlog::info("checkpoint of step {} written: {} ({} bytes, {:.2f} s)",
                   s.step, path, *bytes,
                   absl::ToDoubleSeconds(absl::Now() - start));
      dir_.Prune(policy_.keep);
    } else {
      spdlog::error("checkpoint of step {} failed: {}", s.step,
                    std::string(bytes.status().message()));
    }
    absl::MutexLock lock(&mu_);
    busy_ = false;
    if (bytes.ok()) ++written_;
  }
}

}  // namespace pserve
