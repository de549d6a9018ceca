// The consistency rules of one server, in one place: the sync barrier
// (which ranks a step waits for, exact example-weighted aggregation in rank
// order, when it is applied), async/SSP push admission, the SSP clock
// table, the pull gates (version and clock), the global training loss, and
// membership: when each rank was last heard from, which sync step waits
// for whom, and (--elastic) dropping ranks that stopped and taking them
// back at a step boundary.
// The shard store keeps storage and the optimizer and asks these rules what
// to do with each push and pull.
// Thread-safety: per-chunk state (ChunkGate) is guarded by the owning
// chunk's mutex, which the caller holds where a method says so; the SSP
// clock table, the loss table and the membership table have a mutex each
// (lock order: chunk mutex, then clock or loss mutex, then membership
// mutex, which is innermost).
#ifndef PSERVE_SERVER_CONSISTENCY_H_
#define PSERVE_SERVER_CONSISTENCY_H_

#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "proto/ps.pb.h"

namespace pserve {

struct ConsistencyConfig {
  ConsistencyMode mode = MODE_SYNC;
  int num_workers = 1;
  int staleness = 0;  // ssp only: clocks a worker may lead the slowest by
  // Sync: a step waiting longer than this for a rank is logged (and, with
  // elastic, completed without the ranks it waits for).
  absl::Duration worker_timeout = absl::Seconds(60);
  bool elastic = false;
};

// What the slowest sync step waits for (Consistency::Watch's last view).
struct StepWait {
  int64_t step = -1;                 // -1: nothing waits
  double waited_s = 0;               // since the step's first push
  std::vector<int> ranks;            // expected ranks that have not pushed it
  std::vector<double> last_heard_s;  // per rank in `ranks`; -1: never
};

// One chunk's consistency state. Lives inside the chunk and is guarded by
// the chunk's mutex; only Consistency changes its fields.
struct ChunkGate {
  int64_t version = 0;  // steps applied (async/ssp: pushes applied)
  // Sync: which ranks pushed step `version` and step `version - 1` (the
  // latter to recognise retries of a step already applied).
  std::vector<char> arrived;
  std::vector<char> prev_arrived;
  int arrived_count = 0;
  // Sync, exact aggregation: ranks enter `sum` in rank order whatever the
  // order their pushes arrive in, so a step's mean is bit-reproducible; a
  // push that arrives before a lower rank's waits in `early`.
  std::vector<double> sum;  // sum of n_r * g_r over ranks < next_rank
  std::vector<float> mean;  // the step's weighted mean, for the optimizer
  std::vector<std::vector<float>> early;  // per rank, (numel) once used
  std::vector<int64_t> examples;          // per rank: this step's n_r
  int next_rank = 0;                      // lowest rank not yet in `sum`
  int64_t summed_examples = 0;            // sum of n_r in `sum`
  // Async/ssp: the last step applied from each rank (-1: none).
  std::vector<int64_t> last_step;
};

// The example-weighted mean of the ranks' training losses of one step.
struct GlobalLoss {
  int64_t step = -1;  // -1: no step complete yet
  double loss = 0;
  int64_t examples = 0;
};

// What the store does with an admitted push.
struct PushAdmission {
  bool fresh = false;            // false: a retry of a push already counted
  const float* apply = nullptr;  // non-null: run the optimizer on it now
};

class Consistency {
 public:
  explicit Consistency(const ConsistencyConfig& config);

  ConsistencyMode mode() const { return config_.mode; }
  const ConsistencyConfig& config() const { return config_; }

  // Float-sized arrays per parameter the rules keep (sync: the double sum
  // and the mean; a push arriving before a lower rank's adds one more).
  int StateArrays() const;

  // Sizes the gate of a new chunk of `numel` elements.
  void InitGate(ChunkGate& gate, int64_t numel) const;

  // Whether `rank` may push `step` to a chunk (key names it in messages);
  // OUT_OF_RANGE for a step from the past or the future. Never blocks.
  absl::Status CheckPush(const ChunkGate& gate, uint64_t key, int rank,
                         int64_t step) const;

  // Admits a push already checked by CheckPush (rechecked here) of grad
  // (numel), the mean gradient over `examples` (> 0) examples. Sync adds it
  // to the step in rank order and, when the step's last rank arrived,
  // returns sum_r n_r g_r / sum_r n_r to apply; async/ssp returns grad
  // itself. The caller holds the chunk's mutex, applies `apply` if set,
  // then calls Applied.
  absl::StatusOr<PushAdmission> Admit(ChunkGate& gate, uint64_t key, int rank,
                                      int64_t step, const float* grad,
                                      int64_t examples) const;

  // Sync, after membership changed (Watch returned true): completes the
  // gate's step if every rank it still expects has arrived, returning the
  // mean to apply (then call Applied), else null. Caller holds chunk mutex.
  const float* Recheck(ChunkGate& gate) const;

  // Adds to `missing` (num_workers entries) the ranks the gate's step
  // still expects and has not received. Caller holds the chunk mutex.
  void AddMissing(const ChunkGate& gate, std::vector<char>* missing) const;

  // Records that the optimizer ran once on the admitted gradient.
  void Applied(ChunkGate& gate) const;

  // Puts a gate at `version` with no step in progress and each rank's
  // last applied step (async/ssp) from `last_step` (a restore): every rank
  // counts as having pushed the step before `version`.
  void RestoreGate(ChunkGate& gate, int64_t version,
                   const std::vector<int64_t>& last_step) const;
  // Each rank's last applied step at this chunk (for a checkpoint).
  const std::vector<int64_t>& LastSteps(const ChunkGate& gate) const {
    return gate.last_step;
  }

  // Where `rank` resumes by this chunk's state (the first step it has not
  // pushed to it), and how chunks combine: sync, the chunk's version plus
  // one if the rank's push of that step is in (the version for callers
  // without a rank), resumed at the smallest over chunks (ResumeAtMin);
  // async/ssp one past the rank's last applied push at any chunk.
  int64_t ResumeStep(const ChunkGate& gate, int rank) const;
  bool ResumeAtMin() const { return config_.mode == MODE_SYNC; }

  // Pull gate, sync: blocks on `mu` (held by the caller, guarding gate)
  // until gate.version >= min_version, the deadline (DEADLINE_EXCEEDED) or
  // `cancelled` returning true (CANCELLED; polled every 100 ms). Adds the
  // time waited to `waited`.
  absl::Status AwaitVersion(absl::Mutex& mu, const ChunkGate& gate,
                            uint64_t key, int64_t min_version,
                            absl::Time deadline,
                            const std::function<bool()>& cancelled,
                            absl::Duration* waited) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // Pull gate, ssp: records that `rank` is at `clock` (clocks never go
  // back) and blocks until the slowest rank's clock >= clock - staleness,
  // the deadline or cancellation, as AwaitVersion. No-op in other modes.
  absl::Status AwaitClock(int rank, int64_t clock, absl::Time deadline,
                          const std::function<bool()>& cancelled,
                          absl::Duration* waited);

  // The slowest rank's SSP clock (0 before any pull).
  int64_t MinClock() const;
  // Every rank's SSP clock, and replacing them (a restored checkpoint's;
  // ignored if the rank count differs).
  std::vector<int64_t> Clocks() const;
  void RestoreClocks(const std::vector<int64_t>& clocks);

  // Records rank's training loss at `step` over `examples` examples (the
  // first report of a (rank, step) counts; later ones are retries). When
  // every rank reported the step, it becomes the latest global loss. Steps
  // older than the latest complete one are ignored. Never blocks long.
  void RecordLoss(int rank, int64_t step, double loss, int64_t examples);
  GlobalLoss LatestGlobalLoss() const;

  // Membership. Heard: any request from `rank`. NotePush: a push request
  // of `step` from `rank`; returns true if the rank is dropped, and the
  // caller then calls Rejoin with the step it is counted again from (one
  // past the newest chunk version, a step boundary; logged). Never block.
  void Heard(int rank);
  bool NotePush(int rank, int64_t step);
  void Rejoin(int rank, int64_t step);
  // Whether sync step `step` waits for `rank` (false: dropped, or rejoining
  // at a later step).
  bool Expected(int rank, int64_t step) const;
  // Whether --elastic dropped `rank` and it has not pushed since (false for
  // a rank out of range). Never blocks long.
  bool Dropped(int rank) const;

  // Called about once a second with the slowest chunk version and the
  // ranks its chunks miss: logs "step S waiting Ns for rank R (last heard
  // Ms ago)" once the wait exceeds worker_timeout (at most once a minute
  // per rank) and, with elastic, drops those ranks (logged). Returns true
  // if it dropped any: the caller then rechecks every gate (Recheck) and
  // the open losses (RecheckLosses).
  bool Watch(int64_t slowest_step, const std::vector<char>& missing);
  void RecheckLosses();
  StepWait CurrentWait() const;
  std::vector<int> DroppedRanks() const;

 private:
  struct StepLosses {
    std::vector<double> loss;       // per rank
    std::vector<int64_t> examples;  // per rank; 0: not reported
    int reported = 0;
  };
  void AddToSum(ChunkGate& gate, const float* grad, int64_t examples) const;
  void SumInRankOrder(ChunkGate& gate) const;
  const float* MeanIfComplete(ChunkGate& gate) const;
  bool Rejoining(int rank) const;  // dropped now or rejoined earlier
  std::vector<char> ExpectedMask(int64_t step) const;
  bool AllReported(const StepLosses& s,
                   const std::vector<char>& expected) const;
  void CompleteLossLocked(int64_t step, const StepLosses& s)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(loss_mu_);
  void LogWaitLocked(int rank, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(member_mu_);

  const ConsistencyConfig config_;
  mutable absl::Mutex clock_mu_;
  std::vector<int64_t> clocks_ ABSL_GUARDED_BY(clock_mu_);
  mutable absl::Mutex loss_mu_;
  std::map<int64_t, StepLosses> open_losses_ ABSL_GUARDED_BY(loss_mu_);
  GlobalLoss latest_loss_ ABSL_GUARDED_BY(loss_mu_);
  // Membership, per rank.
  mutable absl::Mutex member_mu_;
  std::vector<absl::Time> last_heard_ ABSL_GUARDED_BY(member_mu_);
  std::vector<char> dropped_ ABSL_GUARDED_BY(member_mu_);
  std::vector<int64_t> active_from_ ABSL_GUARDED_BY(member_mu_);
  std::vector<absl::Time> last_wait_log_ ABSL_GUARDED_BY(member_mu_);
  int64_t newest_push_step_ ABSL_GUARDED_BY(member_mu_) = -1;
  absl::Time newest_push_at_ ABSL_GUARDED_BY(member_mu_);
  StepWait wait_ ABSL_GUARDED_BY(member_mu_);
};

}  // namespace pserve

#endif  // PSERVE_SERVER_CONSISTENCY_H_
