// The data plane of PsClient: concurrent Pull and Push RPCs per batch with
// UNAVAILABLE retries, plus the stats and checkpoint fan-outs.
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "common/wire_dtype.h"
#include "worker/client/ps_client.h"
#include "worker/client/rpc_util.h"

namespace pserve {
namespace {

struct PullCall {
  grpc::ClientContext ctx;
  PullRequest req;
  PullResponse resp;
  grpc::Status status;
  absl::Status decode;  // set by the callback if the reply is malformed
  int64_t min_version = INT64_MAX;
};

struct PushCall {
  grpc::ClientContext ctx;
  PushRequest req;
  PushResponse resp;
  grpc::Status status;
};

// Decodes a pull reply into params, checking it answers what was asked.
absl::Status DecodePull(const ModelLayout& layout, const std::vector<int>& asked,
                        DType dtype, PullCall& call, float* params) {
  if (call.resp.chunks_size() != static_cast<int>(asked.size()))
    return absl::InternalError("server answered a different number of chunks");
  const size_t elem = WireBytesPerElement(dtype);
  for (int j = 0; j < call.resp.chunks_size(); ++j) {
    const ChunkData& d = call.resp.chunks(j);
    const ChunkInfo& c = layout.chunks()[asked[j]];
    if (d.key() != c.key || d.data().size() != c.numel * elem)
      return absl::InternalError(absl::StrCat(
          "server sent key ", d.key(), " with ", d.data().size(),
          " bytes; expected key ", c.key, " with ", c.numel * elem));
    DecodeFloats(d.data().data(), c.numel, dtype, params + c.flat_offset);
    call.min_version = std::min(call.min_version, d.version());
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int64_t> PsClient::RunPullBatches(
    const std::vector<Batch>& batches, float* params, int64_t min_version,
    int64_t clock) {
  std::vector<int> pending(batches.size());
  for (size_t i = 0; i < pending.size(); ++i) pending[i] = static_cast<int>(i);
  int64_t version = INT64_MAX;
  for (int attempt = 0; !pending.empty(); ++attempt) {
    std::vector<std::unique_ptr<PullCall>> calls;
    absl::BlockingCounter done(static_cast<int>(pending.size()));
    for (int b : pending) {
      auto call = std::make_unique<PullCall>();
      SetDeadline(call->ctx, options_.pull_timeout);
      *call->req.mutable_caller() = MakeCaller();
      call->req.set_min_version(min_version);
      call->req.set_clock(clock);
      call->req.set_dtype(options_.dtype);
      for (int ci : batches[b].chunks)
        call->req.add_keys(layout_->chunks()[ci].key);
      PullCall* raw = call.get();
      const std::vector<int>* asked = &batches[b].chunks;
      Stub(batches[b].server, batches[b].index)
          ->async()
          ->Pull(&raw->ctx, &raw->req, &raw->resp,
                 [this, raw, asked, params, &done](grpc::Status s) {
                   raw->status = s;
                   if (s.ok())
                     raw->decode = DecodePull(*layout_, *asked,
                                              options_.dtype, *raw, params);
                   done.DecrementCount();
                 });
      calls.push_back(std::move(call));
    }
    done.Wait();
    std::vector<int> retry;
    for (size_t k = 0; k < calls.size(); ++k) {
      const int server = batches[pending[k]].server;
      absl::Status s = FromGrpc(calls[k]->status, options_.servers[server], server);
      if (s.ok()) s = calls[k]->decode;
      if (absl::IsUnavailable(s) && attempt < options_.max_retries) {
        retry.push_back(pending[k]);
      } else if (!s.ok()) {
        return s;
      } else {
        version = std::min(version, calls[k]->min_version);
      }
    }
    if (!retry.empty()) absl::SleepFor(Backoff(attempt));
    pending.swap(retry);
  }
  return version == INT64_MAX ? 0 : version;
}

absl::Status PsClient::RunPushBatches(const std::vector<Batch>& batches,
                                      const float* grads, int64_t step) {
  std::vector<std::unique_ptr<PushCall>> calls(batches.size());
  const size_t elem = WireBytesPerElement(options_.dtype);
  for (size_t b = 0; b < batches.size(); ++b) {
    calls[b] = std::make_unique<PushCall>();
    PushRequest& req = calls[b]->req;
    *req.mutable_caller() = MakeCaller();
    req.set_step(step);
    req.set_dtype(options_.dtype);
    for (int ci : batches[b].chunks) {
      const ChunkInfo& c = layout_->chunks()[ci];
      ChunkData* d = req.add_chunks();
      d->set_key(c.key);
      d->mutable_data()->resize(c.numel * elem);
      EncodeFloats(grads + c.flat_offset, c.numel, options_.dtype,
                   d->mutable_data()->data());
    }
  }
  std::vector<int> pending(batches.size());
  for (size_t i = 0; i < pending.size(); ++i) pending[i] = static_cast<int>(i);
  for (int attempt = 0; !pending.empty(); ++attempt) {
    absl::BlockingCounter done(static_cast<int>(pending.size()));
    for (int b : pending) {
      PushCall* call = calls[b].get();
      call->ctx.~ClientContext();  // a context serves one RPC: renew it
      new (&call->ctx) grpc::ClientContext();
      SetDeadline(call->ctx, options_.rpc_timeout);
      call->resp.Clear();
      Stub(batches[b].server, batches[b].index)
          ->async()
          ->Push(&call->ctx, &call->req, &call->resp,
                 [call, &done](grpc::Status s) {
                   call->status = s;
                   done.DecrementCount();
                 });
    }
    done.Wait();
    std::vector<int> retry;
    for (int b : pending) {
      const int server = batches[b].server;
      absl::Status s = FromGrpc(calls[b]->status, options_.servers[server], server);
      if (absl::IsUnavailable(s) && attempt < options_.max_retries) {
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

absl::StatusOr<std::vector<StatsResponse>> PsClient::GetStats() {
  std::vector<StatsResponse> out(num_servers());
  for (int s = 0; s < num_servers(); ++s) {
    grpc::ClientContext ctx;
    SetDeadline(ctx, options_.rpc_timeout);
    StatsRequest req;
    *req.mutable_caller() = MakeCaller();
    absl::Status st =
        FromGrpc(Stub(s, 0)->GetStats(&ctx, req, &out[s]), options_.servers[s], s);
    if (!st.ok()) return st;
  }
  return out;
}

absl::StatusOr<std::vector<CheckpointResponse>> PsClient::Checkpoint(
    const std::string& dir) {
  std::vector<CheckpointResponse> out(num_servers());
  for (int s = 0; s < num_servers(); ++s) {
    grpc::ClientContext ctx;
    SetDeadline(ctx, options_.rpc_timeout);
    CheckpointRequest req;
    *req.mutable_caller() = MakeCaller();
    if (!dir.empty()) req.set_path(absl::StrCat(dir, "/server-", s, ".ckpt"));
    absl::Status st = FromGrpc(Stub(s, 0)->Checkpoint(&ctx, req, &out[s]),
                               options_.servers[s], s);
    if (!st.ok()) return st;
  }
  return out;
}

}  // namespace pserve
