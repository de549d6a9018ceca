// Periodic checkpoints of a running server: each chunk is copied under its
// lock the moment its version reaches a multiple of --checkpoint_every (in
// sync mode every chunk of every server passes through the same version, so
// the files of one step form a consistent cut with no coordination); once
// every chunk of a step is in, a background thread writes the file
// (tmp, fsync, rename) and keeps only the newest --keep_checkpoints.
// Thread-safety: Offer may be called from any thread, also while the
// caller holds a chunk mutex (the collector's mutex is a leaf lock); the
// writer thread is owned here and joined by the destructor.
#ifndef PSERVE_SERVER_CHECKPOINTER_H_
#define PSERVE_SERVER_CHECKPOINTER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/checkpoint_dir.h"

namespace pserve {

struct CheckpointPolicy {
  std::string dir;    // empty: no periodic checkpoints
  int64_t every = 0;  // steps between snapshots; 0: none
  int keep = 2;       // newest files kept
};

class Checkpointer {
 public:
  Checkpointer(const CheckpointPolicy& policy, int server_id);
  ~Checkpointer();  // writes what is queued, then joins the writer

  // Whether a chunk that just reached `version` must be offered.
  bool Due(int64_t version) const {
    return policy_.every > 0 && version > 0 && version % policy_.every == 0;
  }

  // Starts collecting: a snapshot is complete with `num_chunks` chunks;
  // `header` fills its other fields (hash, declaration, SSP clocks) on the
  // writer thread, holding no lock. Call once the model is declared.
  void Begin(int num_chunks, std::function<void(ServerSnapshot*)> header);

  // Chunk `index`'s copy at version chunk.version. Never blocks on disk.
  void Offer(int index, ChunkSnapshot chunk);

  // Drops snapshots still being collected (after a restore or rollback).
  void Discard();

  // Blocks until every queued snapshot is written.
  void WaitIdle();

  int64_t written() const;  // files written so far

 private:
  void WriterLoop();

  const CheckpointPolicy policy_;
  const CheckpointDir dir_;
  mutable absl::Mutex mu_;
  int num_chunks_ ABSL_GUARDED_BY(mu_) = 0;
  // Set by Begin before the writer thread starts; read only by it.
  std::function<void(ServerSnapshot*)> header_;
  // step -> chunks collected so far (by local index) and their count.
  struct Pending {
    ServerSnapshot snapshot;
    int filled = 0;
  };
  std::map<int64_t, Pending> collecting_ ABSL_GUARDED_BY(mu_);
  std::deque<ServerSnapshot> queue_ ABSL_GUARDED_BY(mu_);
  bool busy_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int64_t written_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread writer_;  // started by Begin when periodic checkpoints are on
};

}  // namespace pserve

#endif  // PSERVE_SERVER_CHECKPOINTER_H_
