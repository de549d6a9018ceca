// The data plane of PsClient: one AsyncOp per PullAsync/PushAsync, one
// gRPC callback call per batch, hand-encoded (wire_codec.h) through generic
// stubs so tensor bytes are copied once per side. Completion callbacks (on
// gRPC's threads) decode pulled chunks straight into the caller's buffer
// (disjoint ranges), schedule retries on a grpc::Alarm, and finish the op;
// no thread is started per call. An op's state is under its mutex.
#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "grpcpp/alarm.h"
#include "worker/client/ps_client.h"
#include "worker/client/rpc_util.h"
#include "worker/client/wire_codec.h"

namespace pserve {

// One batch's RPC, reissued on retry. Written by the thread running its
// current attempt only (issue, then its callback, then maybe its alarm).
struct AsyncCall {
  int server = 0;
  int index = 0;  // the batch's index among its server's (picks a channel)
  std::vector<ChunkRef> chunks;
  std::unique_ptr<grpc::ClientContext> ctx;
  grpc::ByteBuffer request;
  grpc::ByteBuffer response;
  std::unique_ptr<Retrier> retrier;  // from the first failure
  std::unique_ptr<grpc::Alarm> alarm;
};

struct AsyncOp {
  bool pull = false;
  const char* method = "";
  absl::Duration timeout;
  float* params = nullptr;  // pulls: (total_params) destination
  DType dtype = FP32;
  std::vector<AsyncCall> calls;  // sized before the first is issued
  absl::Mutex mu;
  int outstanding ABSL_GUARDED_BY(mu) = 0;
  absl::Status error ABSL_GUARDED_BY(mu);  // the first
  int64_t min_version ABSL_GUARDED_BY(mu) = INT64_MAX;
  bool cancelled ABSL_GUARDED_BY(mu) = false;
  // Keeps the op alive while its calls are in flight; at the end handed to
  // the client, which drops it on a caller's thread: a ClientContext must
  // not be destroyed inside its own completion callback.
  std::shared_ptr<AsyncOp> self;
  bool Done() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return outstanding == 0;
  }
};

namespace {

constexpr char kPullMethod[] = "/pserve.ParameterServer/Pull";
constexpr char kPushMethod[] = "/pserve.ParameterServer/Push";

std::vector<ChunkRef> RefsOf(const ModelLayout& layout,
                             const std::vector<int>& chunk_indices) {
  std::vector<ChunkRef> refs;
  refs.reserve(chunk_indices.size());
  for (int ci : chunk_indices) {
    const ChunkInfo& c = layout.chunks()[ci];
    refs.push_back(ChunkRef{c.key, c.numel, c.flat_offset});
  }
  return refs;
}

grpc::ByteBuffer SerializeSmall(const google::protobuf::Message& m) {
  std::string bytes;
  m.SerializeToString(&bytes);
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

absl::StatusOr<uint64_t> DecodePushReply(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (buffer.Dump(&slices).ok())
    for (const auto& sl : slices)
      bytes.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
  PushResponse resp;
  if (!resp.ParseFromString(bytes))
    return absl::InternalError("malformed push reply");
  return resp.incarnation();
}

std::shared_ptr<AsyncOp> NewOp(bool pull, size_t calls) {
  auto op = std::make_shared<AsyncOp>();
  op->pull = pull;
  op->method = pull ? kPullMethod : kPushMethod;
  op->calls.resize(calls);
  absl::MutexLock lock(&op->mu);
  op->outstanding = static_cast<int>(calls);  // not done until they finish
  return op;
}

// An op that is already finished with `status`.
std::shared_ptr<AsyncOp> FailedOp(const absl::Status& status) {
  auto op = std::make_shared<AsyncOp>();
  absl::MutexLock lock(&op->mu);
  op->error = status;
  return op;
}

}  // namespace

PsClient::Ticket PsClient::StartPull(const std::vector<Batch>& batches,
                                     float* params, int64_t min_version,
                                     int64_t clock) {
  std::shared_ptr<AsyncOp> op = NewOp(true, batches.size());
  op->timeout = options_.pull_timeout;
  op->params = params;
  op->dtype = options_.dtype;
  for (size_t b = 0; b < batches.size(); ++b) {
    PullRequest req;
    *req.mutable_caller() = MakeCaller();
    req.set_min_version(min_version);
    req.set_clock(clock);
    req.set_dtype(options_.dtype);
    AsyncCall& call = op->calls[b];
    call.server = batches[b].server;
    call.index = batches[b].index;
    call.chunks = RefsOf(*layout_, batches[b].chunks);
    for (const ChunkRef& c : call.chunks) req.add_keys(c.key);
    call.request = SerializeSmall(req);
  }
  Start(op);
  return Ticket(op);
}

PsClient::Ticket PsClient::StartPush(const std::vector<Batch>& batches,
                                     const float* grads, const PushTag& tag) {
  std::shared_ptr<AsyncOp> op = NewOp(false, batches.size());
  op->timeout = options_.rpc_timeout;
  op->dtype = options_.dtype;
  for (size_t b = 0; b < batches.size(); ++b) {
    AsyncCall& call = op->calls[b];
    call.server = batches[b].server;
    call.index = batches[b].index;
    call.chunks = RefsOf(*layout_, batches[b].chunks);
    call.request = EncodePushRequest(MakeCaller(), tag, options_.dtype,
                                     call.chunks, grads);
  }
  Start(op);
  return Ticket(op);
}

void PsClient::Start(const std::shared_ptr<AsyncOp>& op) {
  std::vector<std::shared_ptr<AsyncOp>> finished;  // dropped on return
  {
    absl::MutexLock lock(&inflight_mu_);
    finished.swap(finished_);
    if (op->calls.empty()) return;
    ++inflight_;
  }
  op->self = op;
  for (size_t i = 0; i < op->calls.size(); ++i)
    Issue(op.get(), static_cast<int>(i));
}

void PsClient::Issue(AsyncOp* op, int i) {
  AsyncCall& call = op->calls[i];
  {
    absl::MutexLock lock(&op->mu);  // against Cancel
    if (op->cancelled)
      return Finish(*op, absl::CancelledError("pull or push cancelled"),
                    INT64_MAX, &lock);
    call.ctx = std::make_unique<grpc::ClientContext>();
  }
  SetDeadline(*call.ctx, op->timeout);
  call.response.Clear();
  RawStub(call.server, call.index)
      ->UnaryCall(call.ctx.get(), op->method, grpc::StubOptions(),
                  &call.request, &call.response,
                  [this, op, i](grpc::Status s) { OnReply(op, i, s); });
}

// The status of one finished attempt of call i, its reply decoded.
absl::Status PsClient::CheckReply(AsyncOp& op, int i,
                                  const grpc::Status& status,
                                  int64_t* version) {
  AsyncCall& call = op.calls[i];
  absl::Status s = FromGrpc(status, options_.servers[call.server], call.server);
  if (!s.ok()) return s;
  uint64_t incarnation = 0;
  if (op.pull) {
    GlobalLossReport loss;
    absl::StatusOr<int64_t> v = DecodePullResponse(
        call.response, call.chunks, op.dtype, op.params, &loss, &incarnation);
    if (!v.ok()) return v.status();
    *version = *v;
    NoteGlobalLoss(loss);
  } else {
    absl::StatusOr<uint64_t> inc = DecodePushReply(call.response);
    if (!inc.ok()) return inc.status();
    incarnation = *inc;
  }
  return CheckIncarnation(call.server, incarnation);
}

void PsClient::OnReply(AsyncOp* op, int i, const grpc::Status& status) {
  int64_t version = INT64_MAX;
  absl::Status s = CheckReply(*op, i, status, &version);
  AsyncCall& call = op->calls[i];
  call.response.Clear();
  bool cancelled;
  {
    absl::MutexLock lock(&op->mu);
    cancelled = op->cancelled;
  }
  if (!s.ok() && !cancelled) {
    if (call.retrier == nullptr)
      call.retrier = std::make_unique<Retrier>(
          &options_.retry, options_.servers[call.server], call.server,
          absl::StrCat("answer ", std::strrchr(op->method, '/') + 1),
          /*log=*/call.index == 0);
    if (std::optional<absl::Duration> wait = call.retrier->Next(s)) {
      call.alarm = std::make_unique<grpc::Alarm>();
      call.alarm->Set(
          absl::ToChronoTime(absl::Now() + *wait), [this, op, i](bool fired) {
            if (fired) return Issue(op, i);
            Finish(*op, absl::CancelledError("retry cancelled"), INT64_MAX);
          });
      return;
    }
  }
  Finish(*op, s, version);
}

void PsClient::Finish(AsyncOp& op, const absl::Status& s, int64_t version,
                      absl::MutexLock* held) {
  std::shared_ptr<AsyncOp> self;
  {
    std::optional<absl::MutexLock> lock;
    if (held == nullptr) lock.emplace(&op.mu);
    if (!s.ok() && op.error.ok()) op.error = s;
    op.min_version = std::min(op.min_version, version);
    if (--op.outstanding > 0) return;
    self = std::move(op.self);  // waiters may wake and drop their tickets
  }
  absl::MutexLock lock(&inflight_mu_);
  finished_.push_back(std::move(self));
  --inflight_;  // the op no longer touches this client
}

absl::Status PsClient::Wait(const Ticket& ticket, int64_t* version) {
  if (ticket.op_ == nullptr) return absl::OkStatus();
  AsyncOp& op = *ticket.op_;
  absl::MutexLock lock(&op.mu);
  op.mu.Await(absl::Condition(&op, &AsyncOp::Done));
  if (version != nullptr)
    *version = op.min_version == INT64_MAX ? 0 : op.min_version;
  return op.error;
}

void PsClient::Cancel(const Ticket& ticket) {
  if (ticket.op_ == nullptr) return;
  AsyncOp& op = *ticket.op_;
  absl::MutexLock lock(&op.mu);
  op.cancelled = true;
  if (op.outstanding == 0) return;
  for (AsyncCall& call : op.calls)
    if (call.ctx != nullptr) call.ctx->TryCancel();
}

bool PsClient::WaitFor(const Ticket& ticket, absl::Duration timeout) {
  if (ticket.op_ == nullptr) return true;
  AsyncOp& op = *ticket.op_;
  absl::MutexLock lock(&op.mu);
  return op.mu.AwaitWithTimeout(absl::Condition(&op, &AsyncOp::Done), timeout);
}

void PsClient::WaitForInflight() {
  std::vector<std::shared_ptr<AsyncOp>> finished;
  absl::MutexLock lock(&inflight_mu_);
  inflight_mu_.Await(absl::Condition(
      +[](int* n) { return *n == 0; }, &inflight_));
  finished.swap(finished_);
}

PsClient::Ticket PsClient::PullAsync(float* params, int64_t min_version,
                                     int64_t clock,
                                     const std::vector<int>& tensors) {
  if (layout_ == nullptr)
    return Ticket(FailedOp(absl::FailedPreconditionError("Pull before Init")));
  return StartPull(MakeBatches(tensors), params, min_version, clock);
}

PsClient::Ticket PsClient::PullChunksAsync(float* params, int64_t min_version,
                                           int64_t clock,
                                           const std::vector<int>& chunks) {
  absl::Status s = CheckChunks(chunks, "Pull");
  if (!s.ok()) return Ticket(FailedOp(s));
  return StartPull(BatchChunks(chunks), params, min_version, clock);
}

PsClient::Ticket PsClient::PushAsync(const float* grads, const PushTag& tag,
                                     const std::vector<int>& tensors) {
  if (layout_ == nullptr)
    return Ticket(FailedOp(absl::FailedPreconditionError("Push before Init")));
  return StartPush(MakeBatches(tensors), grads, tag);
}

PsClient::Ticket PsClient::PushChunksAsync(const float* grads,
                                           const PushTag& tag,
                                           const std::vector<int>& chunks) {
  absl::Status s = CheckChunks(chunks, "Push");
  if (!s.ok()) return Ticket(FailedOp(s));
  return StartPush(BatchChunks(chunks), grads, tag);
}

absl::StatusOr<int64_t> PsClient::Pull(float* params, int64_t min_version,
                                       int64_t clock,
                                       const std::vector<int>& tensors) {
  int64_t version = 0;
  absl::Status s =
      Wait(PullAsync(params, min_version, clock, tensors), &version);
  if (!s.ok()) return s;
  return version;
}

absl::Status PsClient::Push(const float* grads, const PushTag& tag,
                            const std::vector<int>& tensors) {
  return Wait(PushAsync(grads, tag, tensors));
}

absl::Status PsClient::PushChunks(const float* grads, const PushTag& tag,
                                  const std::vector<int>& chunks) {
  return Wait(PushChunksAsync(grads, tag, chunks));
}

void PsClient::NoteGlobalLoss(const GlobalLossReport& seen) {
  absl::MutexLock lock(&loss_mu_);
  if (seen.step > global_loss_.step) global_loss_ = seen;
}

GlobalLossReport PsClient::global_loss() const {
  absl::MutexLock lock(&loss_mu_);
  return global_loss_;
}

}  // namespace pserve
