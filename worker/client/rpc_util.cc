// Channel and status helpers for PsClient.
#include "worker/client/rpc_util.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace pserve {

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target,
                                           int max_message_mb, int index,
                                           const ClientSecurity& security) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(max_message_mb << 20);
  args.SetMaxSendMessageSize(max_message_mb << 20);
  args.SetInt("grpc.http2.lookahead_bytes", 64 << 20);
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetInt(GRPC_ARG_HTTP2_MAX_FRAME_SIZE, 16 << 20);
  // A distinct argument keeps gRPC from sharing one subchannel (and one TCP
  // connection) between our channels.
  args.SetInt("pserve.channel_index", index);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // A restarted server pod comes back under the same DNS name at a new
  // address; gRPC re-resolves a name at most this often (default 30 s).
  args.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS, 1000);
  return grpc::CreateCustomChannel(target, MakeChannelCredentials(security),
                                   args);
}

absl::Status WaitForServer(const std::shared_ptr<grpc::Channel>& channel,
                           const std::string& target, int server_id,
                           absl::Time deadline, bool tls) {
  absl::Time next_log = absl::Now() + absl::Seconds(2);
  while (true) {
    const absl::Time step = std::min(deadline, absl::Now() + absl::Seconds(1));
    if (channel->WaitForConnected(absl::ToChronoTime(step)))
      return absl::OkStatus();
    const absl::Time now = absl::Now();
    if (now >= deadline)
      return absl::UnavailableError(absl::StrCat(
          "server ", server_id, " (", target,
          ") did not answer before --connect_timeout; is it running and is "
          "the address right?",
          tls ? " With TLS also check that it serves TLS, that --tls_ca "
                "signed its certificate, that the certificate names this "
                "address, and that it accepts --tls_cert (mutual TLS)"
              : ""));
    if (now >= next_log) {
      spdlog::info("waiting for server {} at {}", server_id, target);
      next_log = now + absl::Seconds(5);
    }
  }
}

void SetDeadline(grpc::ClientContext& ctx, absl::Duration timeout) {
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

absl::Status FromGrpc(const grpc::Status& status, const std::string& target,
                      int server_id) {
  if (status.ok()) return absl::OkStatus();
  const bool too_large =
      status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
      absl::StrContains(status.error_message(), "larger than max");
  return absl::Status(
      static_cast<absl::StatusCode>(status.error_code()),
      absl::StrCat("server ", server_id, " (", target,
                   "): ", status.error_message(),
                   too_large ? " (the limit is --max_message_mb on the server "
                               "and on this client; raise both)"
                             : ""));
}

}  // namespace pserve
