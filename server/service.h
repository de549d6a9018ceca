// The gRPC edge of a parameter server: validates every request completely
// before touching state, then delegates to ShardStore. Thread-safe: gRPC
// calls handlers from its own thread pool; counters are atomics.
#ifndef PSERVE_SERVER_SERVICE_H_
#define PSERVE_SERVER_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <string>

#include "common/metrics.h"
#include "proto/ps.grpc.pb.h"
#include "server/pull_limiter.h"
#include "server/recovery.h"
#include "server/shard_store.h"

namespace pserve {

struct ServiceCounters {
  std::atomic<int64_t> pushes{0}, pulls{0}, bytes_in{0}, bytes_out{0};
  std::atomic<int64_t> duplicate_pushes{0}, rejected{0};
  std::atomic<int64_t> sync_wait_us{0};
};

class ParameterServerService final : public ParameterServer::Service {
 public:
  // `store` and `recovery` must outlive the service; recovery decides
  // where checkpoints go and restores them. limits: caps on pulls in
  // progress and on the size of one pull's reply.
  ParameterServerService(ShardStore* store, ServerRecovery* recovery,
                         const ServiceLimits& limits = ServiceLimits());

  grpc::Status Init(grpc::ServerContext* ctx, const InitRequest* req,
                    InitResponse* resp) override;
  grpc::Status Pull(grpc::ServerContext* ctx, const PullRequest* req,
                    PullResponse* resp) override;
  grpc::Status Push(grpc::ServerContext* ctx, const PushRequest* req,
                    PushResponse* resp) override;
  grpc::Status Checkpoint(grpc::ServerContext* ctx,
                          const CheckpointRequest* req,
                          CheckpointResponse* resp) override;
  grpc::Status GetStats(grpc::ServerContext* ctx, const StatsRequest* req,
                        StatsResponse* resp) override;
  grpc::Status Rollback(grpc::ServerContext* ctx, const RollbackRequest* req,
                        RollbackResponse* resp) override;

  const ServiceCounters& counters() const { return counters_; }
  // Pulls being served now (admitted and not yet answered): most of that
  // time, in sync and ssp, is waiting for a version or a clock.
  int pulls_in_progress() const { return pull_limiter_.in_progress(); }
  // Makes every waiting and future pull return CANCELLED at once, so a
  // shutdown is not held up by pulls waiting for workers that are gone.
  void Stop() { stopping_.store(true); }
  // Optional: observes the seconds spent applying each pushed chunk. Set
  // before serving; the histogram must outlive the service.
  void set_update_histogram(Histogram* h) { update_seconds_ = h; }

 private:
  grpc::Status Reject(const absl::Status& status);
  absl::Status CheckCaller(const Caller& caller, bool worker_only) const;
  // RESOURCE_EXHAUSTED if the reply to `req` would exceed --max_message_mb.
  absl::Status CheckPullReplySize(const PullRequest& req,
                                  const std::vector<int>& local);
  absl::Status ValidatePush(const PushRequest& req,
                            std::vector<int>* local) const;

  absl::Status CheckPullable(const PullRequest& req,
                             const std::vector<int>& local) const;

  ShardStore* const store_;
  ServerRecovery* const recovery_;
  const ServiceLimits limits_;
  PullLimiter pull_limiter_;
  ServiceCounters counters_;
  Histogram* update_seconds_ = nullptr;
  std::atomic<bool> stopping_{false};
};

// Maps absl::Status to grpc::Status with the same code and message.
grpc::Status ToGrpc(const absl::Status& status);

}  // namespace pserve

#endif  // PSERVE_SERVER_SERVICE_H_
