// The parameter-server client used by workers, benchmarks and tests. It
// splits tensors into the declared chunks, talks to every server in
// parallel (several HTTP/2 channels each), applies deadlines, retries every
// RPC by one RetryPolicy (retry.h; pushes are idempotent server-side), and
// reports a server that restarted since Init (another incarnation in its
// reply) as ABORTED. The data plane is asynchronous the ps-lite way: PullAsync
// and PushAsync issue gRPC callback calls and return a Ticket that those
// calls' completions finish (no thread per call); Wait(ticket) blocks.
// Thread-safe: any number of Pull/Push calls and tickets may be in flight at
// once, e.g. a push of layer l overlapping the backward pass of layer l-1;
// Init and Rollback must not overlap them (they change what replies are
// checked against). The destructor waits for calls in flight.
#ifndef PSERVE_WORKER_CLIENT_PS_CLIENT_H_
#define PSERVE_WORKER_CLIENT_PS_CLIENT_H_

#include <cstdint>
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
#include "worker/client/retry.h"
#include "worker/client/wire_codec.h"

namespace pserve {

struct AsyncOp;  // one asynchronous Pull or Push (ps_client_calls.cc)

struct ClientOptions {
  std::vector<std::string> servers;  // "host:port"; index = server id
  Caller::Role role = Caller::WORKER;
  int rank = 0;
  absl::Duration rpc_timeout = absl::Seconds(120);  // Init, Push, stats
  absl::Duration pull_timeout = absl::Minutes(30);  // may wait for peers
  absl::Duration connect_timeout = absl::Seconds(60);
  // How every RPC is retried: by default UNAVAILABLE, backoff 0.1 s
  // doubling to 5 s, for up to 300 s (--server_timeout) from the first
  // failure, logging once a minute what is waited for.
  RetryPolicy retry;
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

  // A handle on one asynchronous Pull or Push, finished by the completion
  // callbacks of its gRPC calls. Copyable; a default Ticket is already done
  // (OK). Dropping a ticket does not cancel its calls.
  class Ticket {
   public:
    Ticket() = default;

   private:
    friend class PsClient;
    explicit Ticket(std::shared_ptr<AsyncOp> op) : op_(std::move(op)) {}
    std::shared_ptr<AsyncOp> op_;
  };

  // Non-blocking variants of Pull, Push and PushChunks, and PullChunks
  // (only the given chunks, indices into layout().chunks()). They return at
  // once; `params` / `grads` must stay valid and untouched by the caller
  // until Wait(ticket) returned. Errors (including those of bad arguments
  // or a call before Init) are reported by Wait.
  Ticket PullAsync(float* params, int64_t min_version, int64_t clock,
                   const std::vector<int>& tensors = {});
  Ticket PullChunksAsync(float* params, int64_t min_version, int64_t clock,
                         const std::vector<int>& chunks);
  Ticket PushAsync(const float* grads, const PushTag& tag,
                   const std::vector<int>& tensors = {});
  Ticket PushChunksAsync(const float* grads, const PushTag& tag,
                         const std::vector<int>& chunks);

  // Blocks until every call of `ticket` finished (retries included) and
  // returns the first error, with the server's code and message; for a pull
  // also stores the smallest version received in *version (may be null).
  // Waiting again on a finished ticket returns the same at once.
  absl::Status Wait(const Ticket& ticket, int64_t* version = nullptr);
  // Asks the ticket's calls to stop (a pull waiting server-side for a
  // version that will not come): they finish CANCELLED unless already done.
  // Wait for the ticket before reusing its buffer. Never blocks.
  void Cancel(const Ticket& ticket);
  // Waits at most `timeout` (zero: polls); true when the ticket is done.
  bool WaitFor(const Ticket& ticket, absl::Duration timeout);

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
  Ticket StartPull(const std::vector<Batch>& batches, float* params,
                   int64_t min_version, int64_t clock);
  Ticket StartPush(const std::vector<Batch>& batches, const float* grads,
                   const PushTag& tag);
  // Issues every call of `op` (from a caller's thread).
  void Start(const std::shared_ptr<AsyncOp>& op);
  // Issues (again, for a retry) call `i` of `op`; its callback finishes it.
  void Issue(AsyncOp* op, int i);
  // Completion of one attempt of call i (on a gRPC thread): decodes,
  // retries by the policy, or finishes the call.
  void OnReply(AsyncOp* op, int i, const grpc::Status& status);
  absl::Status CheckReply(AsyncOp& op, int i, const grpc::Status& status,
                          int64_t* version);
  // Records the end of one call of `op` (`held`: op.mu is already held).
  void Finish(AsyncOp& op, const absl::Status& s, int64_t version,
              absl::MutexLock* held = nullptr);
  void WaitForInflight();
  // INVALID_ARGUMENT for an index outside layout().chunks(),
  // FAILED_PRECONDITION before Init; `what` names the call.
  absl::Status CheckChunks(const std::vector<int>& chunks,
                           const char* what) const;
  void NoteGlobalLoss(const GlobalLossReport& seen);
  // Runs `rpc` (grpc::Status(ClientContext*)) on server `server` under the
  // retry policy, each attempt with a fresh context and deadline. Blocks.
  template <typename Rpc>
  absl::Status UnaryWithRetry(int server, const char* what, Rpc rpc);
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
  // Asynchronous operations not yet finished; the destructor waits for 0.
  absl::Mutex inflight_mu_;
  int inflight_ ABSL_GUARDED_BY(inflight_mu_) = 0;
  // Finished ops, dropped by the next Start or the destructor (on a
  // caller's thread, never inside a gRPC callback).
  std::vector<std::shared_ptr<AsyncOp>> finished_ ABSL_GUARDED_BY(inflight_mu_);
  friend struct AsyncOp;
};

}  // namespace pserve

#endif  // PSERVE_WORKER_CLIENT_PS_CLIENT_H_
