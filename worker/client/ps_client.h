// The parameter-server client used by workers, benchmarks and tests. It
// splits tensors into the declared chunks, talks to every server in
// parallel (several HTTP/2 channels each), applies deadlines, retries
// UNAVAILABLE with exponential backoff for up to server_timeout (pushes are
// idempotent server-side), and reports a server that restarted since Init
// (another incarnation in its reply) as ABORTED.
// Thread-safe: any number of Pull/Push calls may run concurrently, e.g. a
// push of layer l overlapping the backward pass of layer l-1; Init and
// Rollback must not overlap them (they change what replies are checked
// against).
#ifndef PSERVE_WORKER_CLIENT_PS_CLIENT_H_
#define PSERVE_WORKER_CLIENT_PS_CLIENT_H_

#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/model_layout.h"
#include "common/security.h"
#include "grpcpp/generic/generic_stub.h"
#include "proto/ps.grpc.pb.h"
#include "worker/client/wire_codec.h"

namespace pserve {

struct ClientOptions {
  std::vector<std::string> servers;  // "host:port"; index = server id
  Caller::Role role = Caller::WORKER;
  int rank = 0;
  absl::Duration rpc_timeout = absl::Seconds(120);  // Init, Push, stats
  absl::Duration pull_timeout = absl::Minutes(30);  // may wait for peers
  absl::Duration connect_timeout = absl::Seconds(60);
  // How long an unavailable server is retried (backoff 0.1 s doubling to
  // 5 s), logging once a minute what is waited for.
  absl::Duration server_timeout = absl::Seconds(300);
  int max_message_mb = 64;
  int64_t request_bytes = 4 << 20;  // chunks are batched up to this per RPC
  int channels_per_server = 2;
  DType dtype = FP32;       // wire encoding of pulls and pushes
  ClientSecurity security;  // TLS roots, client certificate, token
};

// Parses "host:port,host:port". INVALID_ARGUMENT naming the bad entry.
absl::StatusOr<std::vector<std::string>> ParseServerList(
    const std::string& list);

class PsClient {
 public:
  // Connects to every server, waiting up to connect_timeout for each and
  // logging which one it waits for. UNAVAILABLE naming the server that never
  // answered. Blocks.
  static absl::StatusOr<std::unique_ptr<PsClient>> Connect(
      const ClientOptions& options);
  ~PsClient();

  // Declares the model to every server (the caller field is filled in) and
  // builds the chunk layout; again after a server restarted, to re-read
  // every server's state. FAILED_PRECONDITION if a server holds another
  // model; INVALID_ARGUMENT if the declaration disagrees with its flags;
  // UNAVAILABLE naming a server that stayed unreachable for server_timeout.
  // Blocks.
  absl::Status Init(const InitRequest& declaration);

  // Every server's reply to the last Init, in server order (its chunk
  // versions, incarnation and checkpoint steps).
  const std::vector<InitResponse>& init_replies() const { return replies_; }

  // Asks server `server` to restore its checkpoint of `step` (sync
  // recovery, see ps.proto). The server's error (NOT_FOUND, DATA_LOSS,
  // FAILED_PRECONDITION) otherwise. Blocks.
  absl::Status Rollback(int server, int64_t step);

  // Valid after Init.
  const ModelLayout& layout() const { return *layout_; }
  // The step this worker resumes at (0 for a fresh model): the servers'
  // version in sync mode, one past this rank's last applied push otherwise.
  int64_t resume_step() const { return resume_step_; }

  // Pulls the given tensors (all when empty) into params, a flat buffer of
  // layout().total_params() floats in tensor order, waiting server-side
  // until each chunk's version >= min_version (sync) and, in ssp mode, for
  // the staleness bound at `clock`. Returns the smallest version received.
  // Blocks; DEADLINE_EXCEEDED after pull_timeout.
  absl::StatusOr<int64_t> Pull(float* params, int64_t min_version,
                               int64_t clock,
                               const std::vector<int>& tensors = {});

  // The newest global training loss any pull so far carried (step -1
  // before the first complete step). Never blocks.
  GlobalLossReport global_loss() const;

  // Pushes gradients of the given tensors (all when empty) from grads (flat,
  // like Pull's buffer) tagged with tag's step, example count (> 0, else the
  // servers answer INVALID_ARGUMENT) and loss. Blocks until every server
  // acknowledged; errors carry the server's code and message.
  absl::Status Push(const float* grads, const PushTag& tag,
                    const std::vector<int>& tensors = {});

  // Pushes only the given chunks (indices into layout().chunks()), e.g.
  // the chunks of stacked per-layer tensors whose layers backward has
  // finished. Same contract as Push.
  absl::Status PushChunks(const float* grads, const PushTag& tag,
                          const std::vector<int>& chunks);

  // Non-blocking variants: the buffers must stay valid until the future is
  // ready.
  std::future<absl::StatusOr<int64_t>> PullAsync(float* params,
                                                 int64_t min_version,
                                                 int64_t clock,
                                                 std::vector<int> tensors = {});
  std::future<absl::Status> PushAsync(const float* grads, const PushTag& tag,
                                      std::vector<int> tensors = {});
  std::future<absl::Status> PushChunksAsync(const float* grads,
                                            const PushTag& tag,
                                            std::vector<int> chunks);

  // Per-server statistics, in server order. Blocks.
  absl::StatusOr<std::vector<StatsResponse>> GetStats();

  // Asks every server to checkpoint into its own --checkpoint_dir as
  // <name>-<server id>.ckpt ("" means "server"). INVALID_ARGUMENT for a
  // name that is not [A-Za-z0-9._-]{1,64}; FAILED_PRECONDITION from a
  // server without --checkpoint_dir. Blocks.
  absl::StatusOr<std::vector<CheckpointResponse>> Checkpoint(
      const std::string& name);

  int num_servers() const { return static_cast<int>(options_.servers.size()); }

  // One RPC's worth of chunks for one server (an implementation detail,
  // public only so the RPC helpers can name it).
  struct Batch {
    int server = 0;
    int index = 0;  // spreads a server's batches over its channels
    std::vector<int> chunks;
  };

 private:
  explicit PsClient(const ClientOptions& options);
  Caller MakeCaller() const;
  std::vector<Batch> MakeBatches(const std::vector<int>& tensors) const;
  std::vector<Batch> BatchChunks(const std::vector<int>& chunks) const;
  ParameterServer::Stub* Stub(int server, int batch_index);
  grpc::GenericStub* RawStub(int server, int batch_index);
  absl::Status RunPushBatches(const std::vector<Batch>& batches,
                              const float* grads, const PushTag& tag);
  void NoteGlobalLoss(const GlobalLossReport& seen);
  absl::StatusOr<int64_t> RunPullBatches(const std::vector<Batch>& batches,
                                         float* params, int64_t min_version,
                                         int64_t clock);
  // OK, or ABORTED if `incarnation` is not the one server s had at Init.
  absl::Status CheckIncarnation(int server, uint64_t incarnation) const;

  ClientOptions options_;
  // stubs_[server][channel]; created in Connect, immutable afterwards.
  std::vector<std::vector<std::unique_ptr<ParameterServer::Stub>>> stubs_;
  // raw_stubs_[server][channel]: the same channels, for hand-encoded
  // Push and Pull (see wire_codec.h).
  std::vector<std::vector<std::unique_ptr<grpc::GenericStub>>> raw_stubs_;
  std::unique_ptr<ModelLayout> layout_;  // set once by Init
  int64_t resume_step_ = 0;              // set by Init
  mutable absl::Mutex loss_mu_;
  GlobalLossReport global_loss_ ABSL_GUARDED_BY(loss_mu_);
  std::vector<InitResponse> replies_;  // set by Init
};

}  // namespace pserve

#endif  // PSERVE_WORKER_CLIENT_PS_CLIENT_H_
