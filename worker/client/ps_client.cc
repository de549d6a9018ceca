// PsClient: batching chunks into RPCs, issuing them concurrently through
// gRPC's callback API, and retrying UNAVAILABLE. The calling thread blocks
// on a counter; gRPC's threads run the completion callbacks, which decode
// pulled chunks straight into the caller's buffer (disjoint ranges).
#include "worker/client/ps_client.h"

#include <algorithm>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/blocking_counter.h"
#include "common/wire_dtype.h"
#include "grpcpp/grpcpp.h"
#include "spdlog/spdlog.h"
#include "worker/client/rpc_util.h"

namespace pserve {

absl::StatusOr<std::vector<std::string>> ParseServerList(
    const std::string& list) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(list, ',', absl::SkipEmpty())) {
    std::vector<std::string> hp = absl::StrSplit(part, ':');
    int port = 0;
    if (hp.size() != 2 || hp[0].empty() || !absl::SimpleAtoi(hp[1], &port) ||
        port <= 0 || port > 65535)
      return absl::InvalidArgumentError(absl::StrCat(
          "--servers entry '", part, "' is not host:port (e.g. ps-0.ps:7070)"));
    out.emplace_back(part);
  }
  if (out.empty())
    return absl::InvalidArgumentError(
        "--servers is empty: give host:port of every server, comma-separated");
  return out;
}

PsClient::PsClient(const ClientOptions& options) : options_(options) {}
PsClient::~PsClient() = default;

absl::StatusOr<std::unique_ptr<PsClient>> PsClient::Connect(
    const ClientOptions& options) {
  std::unique_ptr<PsClient> client(new PsClient(options));
  const absl::Time deadline = absl::Now() + options.connect_timeout;
  for (int s = 0; s < static_cast<int>(options.servers.size()); ++s) {
    std::vector<std::unique_ptr<ParameterServer::Stub>> stubs;
    std::vector<std::unique_ptr<grpc::GenericStub>> raw;
    for (int c = 0; c < std::max(1, options.channels_per_server); ++c) {
      auto channel = MakeChannel(options.servers[s], options.max_message_mb, c,
                                 options.security);
      if (c == 0) {
        absl::Status st = WaitForServer(channel, options.servers[s], s,
                                        deadline, options.security.tls());
        if (!st.ok()) return st;
      }
      stubs.push_back(ParameterServer::NewStub(channel));
      raw.push_back(std::make_unique<grpc::GenericStub>(channel));
    }
    client->stubs_.push_back(std::move(stubs));
    client->raw_stubs_.push_back(std::move(raw));
  }
  return client;
}

Caller PsClient::MakeCaller() const {
  Caller caller;
  caller.set_role(options_.role);
  caller.set_rank(options_.rank);
  return caller;
}

ParameterServer::Stub* PsClient::Stub(int server, int batch_index) {
  auto& list = stubs_[server];
  return list[batch_index % list.size()].get();
}

grpc::GenericStub* PsClient::RawStub(int server, int batch_index) {
  auto& list = raw_stubs_[server];
  return list[batch_index % list.size()].get();
}

absl::Status PsClient::Init(const InitRequest& declaration) {
  InitRequest req = declaration;
  *req.mutable_caller() = MakeCaller();
  req.set_num_servers(num_servers());
  std::vector<TensorSpec> tensors(req.tensors().begin(), req.tensors().end());
  absl::StatusOr<ModelLayout> layout =
      ModelLayout::Build(tensors, req.chunk_bytes(), num_servers());
  if (!layout.ok()) return layout.status();
  const bool sync = req.mode() == MODE_SYNC;
  int64_t resume = sync ? INT64_MAX : 0;
  std::vector<InitResponse> replies(num_servers());
  for (int s = 0; s < num_servers(); ++s) {
    UnavailableWait wait(options_.servers[s], s, options_.server_timeout);
    absl::Status last;
    do {
      grpc::ClientContext ctx;
      SetDeadline(ctx, options_.rpc_timeout);
      last = FromGrpc(Stub(s, 0)->Init(&ctx, req, &replies[s]),
                      options_.servers[s], s);
    } while (absl::IsUnavailable(last) && wait.Retry("declare the model"));
    if (!last.ok()) return last;
    resume = sync ? std::min(resume, replies[s].resume_step())
                  : std::max(resume, replies[s].resume_step());
  }
  resume_step_ = resume == INT64_MAX ? 0 : resume;
  replies_ = std::move(replies);
  layout_ = std::make_unique<ModelLayout>(*std::move(layout));
  return absl::OkStatus();
}

absl::Status PsClient::Rollback(int server, int64_t step) {
  RollbackRequest req;
  *req.mutable_caller() = MakeCaller();
  req.set_step(step);
  RollbackResponse resp;
  UnavailableWait wait(options_.servers[server], server,
                       options_.server_timeout);
  absl::Status s;
  do {
    grpc::ClientContext ctx;
    SetDeadline(ctx, options_.rpc_timeout);
    s = FromGrpc(Stub(server, 0)->Rollback(&ctx, req, &resp),
                 options_.servers[server], server);
  } while (absl::IsUnavailable(s) && wait.Retry("roll back"));
  return s;
}

absl::Status PsClient::CheckIncarnation(int server,
                                        uint64_t incarnation) const {
  const uint64_t known = replies_[server].incarnation();
  if (incarnation == known) return absl::OkStatus();
  return absl::AbortedError(
      absl::StrCat("server ", server, " (", options_.servers[server],
                   ") restarted: incarnation ", absl::Hex(incarnation),
                   ", was ", absl::Hex(known)));
}

std::vector<PsClient::Batch> PsClient::MakeBatches(
    const std::vector<int>& tensors) const {
  if (!tensors.empty()) return BatchChunks(layout_->ChunksOfTensors(tensors));
  std::vector<int> chunks(layout_->chunks().size());
  for (size_t i = 0; i < chunks.size(); ++i) chunks[i] = static_cast<int>(i);
  return BatchChunks(chunks);
}

std::vector<PsClient::Batch> PsClient::BatchChunks(
    const std::vector<int>& chunks) const {
  std::vector<Batch> batches;
  std::vector<int> open(num_servers(), -1);  // server -> open batch
  std::vector<int64_t> open_bytes(num_servers(), 0);
  std::vector<int> per_server(num_servers(), 0);
  for (int ci : chunks) {
    const ChunkInfo& c = layout_->chunks()[ci];
    const int64_t bytes = c.numel * 4;
    int& b = open[c.server];
    if (b < 0 || open_bytes[c.server] + bytes > options_.request_bytes) {
      b = static_cast<int>(batches.size());
      batches.push_back(Batch{c.server, per_server[c.server]++, {}});
      open_bytes[c.server] = 0;
    }
    batches[b].chunks.push_back(ci);
    open_bytes[c.server] += bytes;
  }
  return batches;
}

absl::StatusOr<int64_t> PsClient::Pull(float* params, int64_t min_version,
                                       int64_t clock,
                                       const std::vector<int>& tensors) {
  if (layout_ == nullptr)
    return absl::FailedPreconditionError("Pull before Init");
  return RunPullBatches(MakeBatches(tensors), params, min_version, clock);
}

absl::Status PsClient::Push(const float* grads, const PushTag& tag,
                            const std::vector<int>& tensors) {
  if (layout_ == nullptr)
    return absl::FailedPreconditionError("Push before Init");
  return RunPushBatches(MakeBatches(tensors), grads, tag);
}

absl::Status PsClient::PushChunks(const float* grads, const PushTag& tag,
                                  const std::vector<int>& chunks) {
  if (layout_ == nullptr)
    return absl::FailedPreconditionError("Push before Init");
  for (int ci : chunks)
    if (ci < 0 || ci >= static_cast<int>(layout_->chunks().size()))
      return absl::InvalidArgumentError(absl::StrCat("no chunk ", ci));
  return RunPushBatches(BatchChunks(chunks), grads, tag);
}

std::future<absl::Status> PsClient::PushChunksAsync(const float* grads,
                                                    const PushTag& tag,
                                                    std::vector<int> chunks) {
  return std::async(std::launch::async,
                    [=] { return PushChunks(grads, tag, chunks); });
}

std::future<absl::StatusOr<int64_t>> PsClient::PullAsync(
    float* params, int64_t min_version, int64_t clock,
    std::vector<int> tensors) {
  return std::async(std::launch::async,
                    [=] { return Pull(params, min_version, clock, tensors); });
}

std::future<absl::Status> PsClient::PushAsync(const float* grads,
                                              const PushTag& tag,
                                              std::vector<int> tensors) {
  return std::async(std::launch::async,
                    [=] { return Push(grads, tag, tensors); });
}

}  // namespace pserve
