// PsClient: connecting, batching chunks into RPCs, and the control-plane
// RPCs (Init, Rollback, GetStats, Checkpoint), each through the one retry
// policy; the data plane is in ps_client_calls.cc.
#include "worker/client/ps_client.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
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
PsClient::~PsClient() { WaitForInflight(); }

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

template <typename Rpc>
absl::Status PsClient::UnaryWithRetry(int server, const char* what, Rpc rpc) {
  Retrier retrier(&options_.retry, options_.servers[server], server, what);
  return RunWithRetry(retrier, [&] {
    grpc::ClientContext ctx;
    SetDeadline(ctx, options_.rpc_timeout);
    return FromGrpc(rpc(&ctx), options_.servers[server], server);
  });
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
    absl::Status last =
        UnaryWithRetry(s, "declare the model", [&](grpc::ClientContext* ctx) {
          return Stub(s, 0)->Init(ctx, req, &replies[s]);
        });
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
  return UnaryWithRetry(server, "roll back", [&](grpc::ClientContext* ctx) {
    return Stub(server, 0)->Rollback(ctx, req, &resp);
  });
}

absl::StatusOr<std::vector<StatsResponse>> PsClient::GetStats() {
  std::vector<StatsResponse> out(num_servers());
  StatsRequest req;
  *req.mutable_caller() = MakeCaller();
  for (int s = 0; s < num_servers(); ++s) {
    absl::Status st =
        UnaryWithRetry(s, "report stats", [&](grpc::ClientContext* ctx) {
          return Stub(s, 0)->GetStats(ctx, req, &out[s]);
        });
    if (!st.ok()) return st;
  }
  return out;
}

absl::StatusOr<std::vector<CheckpointResponse>> PsClient::Checkpoint(
    const std::string& name) {
  std::vector<CheckpointResponse> out(num_servers());
  CheckpointRequest req;
  *req.mutable_caller() = MakeCaller();
  req.set_name(name);
  for (int s = 0; s < num_servers(); ++s) {
    absl::Status st =
        UnaryWithRetry(s, "checkpoint", [&](grpc::ClientContext* ctx) {
          return Stub(s, 0)->Checkpoint(ctx, req, &out[s]);
        });
    if (!st.ok()) return st;
  }
  return out;
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

absl::Status PsClient::CheckChunks(const std::vector<int>& chunks,
                                   const char* what) const {
  if (layout_ == nullptr)
    return absl::FailedPreconditionError(absl::StrCat(what, " before Init"));
  for (int ci : chunks)
    if (ci < 0 || ci >= static_cast<int>(layout_->chunks().size()))
      return absl::InvalidArgumentError(absl::StrCat("no chunk ", ci));
  return absl::OkStatus();
}

}  // namespace pserve
