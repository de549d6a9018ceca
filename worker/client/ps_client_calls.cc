// The data plane of PsClient: concurrent Pull and Push RPCs per batch,
// hand-encoded (wire_codec.h) through generic stubs so tensor bytes are
// copied once per side, with UNAVAILABLE retries; plus the stats and
// checkpoint fan-outs.
#include <cstring>
#include <map>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "worker/client/ps_client.h"
#include "worker/client/rpc_util.h"
#include "worker/client/wire_codec.h"

namespace pserve {
namespace {

constexpr char kPullMethod[] = "/pserve.ParameterServer/Pull";
constexpr char kPushMethod[] = "/pserve.ParameterServer/Push";

struct RawCall {
  std::unique_ptr<grpc::ClientContext> ctx;
  grpc::ByteBuffer request;
  grpc::ByteBuffer response;
  grpc::Status status;
  absl::StatusOr<int64_t> decoded = 0;  // pulls: smallest version
  GlobalLossReport loss;                // pulls: the server's global loss
  uint64_t incarnation = 0;             // the replying server's
  std::vector<ChunkRef> chunks;
};

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

}  // namespace

// Issues every pending call, waits for all, and sorts results into done,
// retry (UNAVAILABLE, attempts left) or a first hard error.
// An unavailable server is retried for options.server_timeout.
template <typename OnReply>
static absl::Status RunRaw(
    const ClientOptions& options, const std::vector<PsClient::Batch>& batches,
    std::vector<RawCall>& calls, const char* method, absl::Duration timeout,
    const std::function<grpc::GenericStub*(int, int)>& stub, OnReply on_reply,
    const std::function<absl::Status(int, uint64_t)>& check) {
  std::map<int, UnavailableWait> waits;  // server -> since its first failure
  std::vector<int> pending(batches.size());
  for (size_t i = 0; i < pending.size(); ++i) pending[i] = static_cast<int>(i);
  for (int attempt = 0; !pending.empty(); ++attempt) {
    absl::BlockingCounter done(static_cast<int>(pending.size()));
    for (int b : pending) {
      RawCall* call = &calls[b];
      call->ctx = std::make_unique<grpc::ClientContext>();
      SetDeadline(*call->ctx, timeout);
      call->response.Clear();
      stub(batches[b].server, batches[b].index)
          ->UnaryCall(call->ctx.get(), method, grpc::StubOptions(),
                      &call->request, &call->response,
                      [call, &done, &on_reply](grpc::Status s) {
                        call->status = s;
                        if (s.ok()) on_reply(*call);
                        done.DecrementCount();
                      });
    }
    done.Wait();
    std::vector<int> retry;
    for (int b : pending) {
      const int server = batches[b].server;
      absl::Status s =
          FromGrpc(calls[b].status, options.servers[server], server);
      if (s.ok()) s = calls[b].decoded.status();
      if (s.ok()) s = check(server, calls[b].incarnation);
      if (absl::IsUnavailable(s)) {
        auto it = waits
                      .try_emplace(server, options.servers[server], server,
                                   options.server_timeout)
                      .first;
        if (!it->second.KeepTrying(
                absl::StrCat("answer ", std::strrchr(method, '/') + 1)))
          return s;
        retry.push_back(b);
      } else if (!s.ok()) {
        return s;
      }
    }
    if (!retry.empty()) absl::SleepFor(Backoff(attempt));
    pending.swap(retry);
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> PsClient::RunPullBatches(
    const std::vector<Batch>& batches, float* params, int64_t min_version,
    int64_t clock) {
  std::vector<RawCall> calls(batches.size());
  for (size_t b = 0; b < batches.size(); ++b) {
    PullRequest req;
    *req.mutable_caller() = MakeCaller();
    req.set_min_version(min_version);
    req.set_clock(clock);
    req.set_dtype(options_.dtype);
    calls[b].chunks = RefsOf(*layout_, batches[b].chunks);
    for (const ChunkRef& c : calls[b].chunks) req.add_keys(c.key);
    calls[b].request = SerializeSmall(req);
  }
  const DType dtype = options_.dtype;
  absl::Status s = RunRaw(
      options_, batches, calls, kPullMethod, options_.pull_timeout,
      [this](int s, int i) { return RawStub(s, i); },
      [dtype, params](RawCall& call) {
        call.decoded =
            DecodePullResponse(call.response, call.chunks, dtype, params,
                               &call.loss, &call.incarnation);
      },
      [this](int server, uint64_t inc) {
        return CheckIncarnation(server, inc);
      });
  if (!s.ok()) return s;
  int64_t version = INT64_MAX;
  for (const RawCall& c : calls) {
    version = std::min(version, *c.decoded);
    NoteGlobalLoss(c.loss);
  }
  return version == INT64_MAX ? 0 : version;
}

absl::Status PsClient::RunPushBatches(const std::vector<Batch>& batches,
                                      const float* grads, const PushTag& tag) {
  std::vector<RawCall> calls(batches.size());
  for (size_t b = 0; b < batches.size(); ++b) {
    calls[b].chunks = RefsOf(*layout_, batches[b].chunks);
    calls[b].request = EncodePushRequest(MakeCaller(), tag, options_.dtype,
                                         calls[b].chunks, grads);
  }
  return RunRaw(
      options_, batches, calls, kPushMethod, options_.rpc_timeout,
      [this](int s, int i) { return RawStub(s, i); },
      [](RawCall& call) {
        PushResponse resp;
        std::vector<grpc::Slice> slices;
        std::string bytes;
        if (call.response.Dump(&slices).ok())
          for (const auto& sl : slices)
            bytes.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
        if (!resp.ParseFromString(bytes))
          call.decoded = absl::InternalError("malformed push reply");
        call.incarnation = resp.incarnation();
      },
      [this](int server, uint64_t inc) {
        return CheckIncarnation(server, inc);
      });
}

void PsClient::NoteGlobalLoss(const GlobalLossReport& seen) {
  absl::MutexLock lock(&loss_mu_);
  if (seen.step > global_loss_.step) global_loss_ = seen;
}

GlobalLossReport PsClient::global_loss() const {
  absl::MutexLock lock(&loss_mu_);
  return global_loss_;
}

absl::StatusOr<std::vector<StatsResponse>> PsClient::GetStats() {
  std::vector<StatsResponse> out(num_servers());
  for (int s = 0; s < num_servers(); ++s) {
    grpc::ClientContext ctx;
    SetDeadline(ctx, options_.rpc_timeout);
    StatsRequest req;
    *req.mutable_caller() = MakeCaller();
    absl::Status st = FromGrpc(Stub(s, 0)->GetStats(&ctx, req, &out[s]),
                               options_.servers[s], s);
    if (!st.ok()) return st;
  }
  return out;
}

absl::StatusOr<std::vector<CheckpointResponse>> PsClient::Checkpoint(
    const std::string& name) {
  std::vector<CheckpointResponse> out(num_servers());
  for (int s = 0; s < num_servers(); ++s) {
    grpc::ClientContext ctx;
    SetDeadline(ctx, options_.rpc_timeout);
    CheckpointRequest req;
    *req.mutable_caller() = MakeCaller();
    req.set_name(name);
    absl::Status st = FromGrpc(Stub(s, 0)->Checkpoint(&ctx, req, &out[s]),
                               options_.servers[s], s);
    if (!st.ok()) return st;
  }
  return out;
}

}  // namespace pserve
