// Flag definitions and validation for ps_server.
#include "server/server_flags.h"

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "common/consistency_mode.h"

ABSL_FLAG(int, port, 7070,
          "gRPC port to listen on; 0 picks a free port "
          "(see --port_file)");
ABSL_FLAG(std::string, bind_address, "0.0.0.0",
          "address to listen on (127.0.0.1 for loopback only)");
ABSL_FLAG(std::string, port_file, "",
          "if set, write the bound port to this file once serving");
ABSL_FLAG(int, server_id, 0, "this server's index in [0, --num_servers)");
ABSL_FLAG(int, num_servers, 1, "number of parameter servers in the job");
ABSL_FLAG(int, num_workers, 1, "number of workers in the job (>= 1)");
ABSL_FLAG(std::string, mode, "sync",
          "consistency: sync (average W pushes per step), async (apply each "
          "push), ssp (async with bounded staleness, see --staleness)");
ABSL_FLAG(int, staleness, -1,
          "ssp only: how many clocks a worker may run ahead of the slowest "
          "(default 2 in ssp mode)");
ABSL_FLAG(int, worker_timeout, 60,
          "sync: seconds a step may wait for a rank's push before the wait is "
          "logged (once a minute) and, with --elastic, the rank is dropped");
ABSL_FLAG(bool, elastic, false,
          "sync: after --worker_timeout, complete the step with the ranks "
          "that pushed and go on without the missing ones; a dropped rank "
          "that pushes again rejoins at the next step boundary");
ABSL_FLAG(std::string, optimizer, "adamw", "sgd, momentum, adam or adamw");
ABSL_FLAG(int, update_threads, 0,
          "threads that apply each chunk's optimizer update together "
          "(0: every core); results are the same for any count");
ABSL_FLAG(double, lr, 1e-3, "peak learning rate");
ABSL_FLAG(double, momentum, 0.9, "momentum factor (--optimizer=momentum)");
ABSL_FLAG(bool, nesterov, false, "Nesterov momentum (--optimizer=momentum)");
ABSL_FLAG(double, beta1, 0.9, "Adam/AdamW first-moment decay");
ABSL_FLAG(double, beta2, 0.999, "Adam/AdamW second-moment decay");
ABSL_FLAG(double, eps, 1e-8, "Adam/AdamW denominator epsilon");
ABSL_FLAG(
    double, weight_decay, 0.0,
    "AdamW: decoupled decay; sgd/momentum/adam: L2 added to the gradient");
ABSL_FLAG(std::string, lr_schedule, "constant", "constant or cosine");
ABSL_FLAG(int64_t, warmup_steps, 0, "linear warmup updates");
ABSL_FLAG(int64_t, total_steps, 0,
          "updates at which the cosine schedule reaches its minimum");
ABSL_FLAG(int64_t, chunk_bytes, 4 << 20,
          "largest chunk a tensor is cut into; must equal the workers' value");
ABSL_FLAG(int, max_message_mb, 64, "largest gRPC message, in MiB");
ABSL_FLAG(int, metrics_port, -1,
          "port for Prometheus /metrics over HTTP; -1 disables, 0 picks one");
ABSL_FLAG(std::string, checkpoint_dir, "",
          "directory of this server's checkpoints: periodic ones "
          "(--checkpoint_every; the newest valid one is restored when the "
          "model is declared) and the only directory Checkpoint requests "
          "write into (as NAME-<server_id>.ckpt; without it they are "
          "refused)");
ABSL_FLAG(int64_t, checkpoint_every, 0,
          "write a checkpoint whenever the version reaches a multiple of "
          "this (in the background; needs --checkpoint_dir); 0: never");
ABSL_FLAG(int, keep_checkpoints, 2,
          "periodic checkpoints kept in --checkpoint_dir (newest first)");
ABSL_FLAG(std::string, restore_from, "",
          "checkpoint file to load when the model is first declared (e.g. "
          "DIR/server-0.ckpt from an earlier run with the same model)");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate to serve TLS with (with --tls_key); empty: "
          "plaintext");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA: require every client to present a certificate it signed "
          "(mutual TLS)");
ABSL_FLAG(std::string, auth_token_file, "",
          "file (mode 600) holding the bearer token every call must carry; "
          "needs --tls_cert. The health service stays open");
ABSL_FLAG(int, max_waiting_pulls, 8192,
          "most Pull calls in progress on this server at once; more get "
          "RESOURCE_EXHAUSTED");
ABSL_FLAG(int, max_waiting_pulls_per_caller, 1024,
          "most Pull calls in progress at once from one caller (role, rank)");
ABSL_FLAG(std::string, log_level, "info",
          "trace, debug, info, warn, error or off");

namespace pserve {
namespace {

absl::Status Bad(const std::string& message) {
  return absl::InvalidArgumentError(message);
}

absl::StatusOr<OptimizerConfig> OptimizerFromFlags() {
  OptimizerConfig o;
  absl::StatusOr<OptimizerKind> kind =
      ParseOptimizerKind(absl::GetFlag(FLAGS_optimizer));
  if (!kind.ok())
    return Bad(absl::StrCat("--optimizer: ", kind.status().message()));
  o.kind = *kind;
  absl::StatusOr<LrSchedule> sched =
      ParseLrSchedule(absl::GetFlag(FLAGS_lr_schedule));
  if (!sched.ok())
    return Bad(absl::StrCat("--lr_schedule: ", sched.status().message()));
  o.schedule = *sched;
  o.lr = static_cast<float>(absl::GetFlag(FLAGS_lr));
  o.momentum = static_cast<float>(absl::GetFlag(FLAGS_momentum));
  o.nesterov = absl::GetFlag(FLAGS_nesterov);
  o.beta1 = static_cast<float>(absl::GetFlag(FLAGS_beta1));
  o.beta2 = static_cast<float>(absl::GetFlag(FLAGS_beta2));
  o.eps = static_cast<float>(absl::GetFlag(FLAGS_eps));
  o.weight_decay = static_cast<float>(absl::GetFlag(FLAGS_weight_decay));
  o.warmup_steps = absl::GetFlag(FLAGS_warmup_steps);
  o.total_steps = absl::GetFlag(FLAGS_total_steps);
  if (o.nesterov && o.kind != OptimizerKind::kMomentum)
    return Bad("--nesterov needs --optimizer=momentum");
  absl::Status s = ValidateOptimizerConfig(o);
  if (!s.ok()) return s;
  return o;
}

absl::Status CheckTopology(const ServerConfig& c) {
  if (c.num_workers < 1)
    return Bad(absl::StrCat("--num_workers=", c.num_workers,
                            " makes no sense: a job needs at least 1 worker"));
  if (c.num_servers < 1)
    return Bad(absl::StrCat("--num_servers=", c.num_servers,
                            " makes no sense: use 1 or more"));
  if (c.server_id < 0 || c.server_id >= c.num_servers)
    return Bad(absl::StrCat("--server_id=", c.server_id, " is outside [0, ",
                            c.num_servers,
                            ") given --num_servers=", c.num_servers));
  return absl::OkStatus();
}

absl::Status CheckpointFlags(CheckpointPolicy* p) {
  p->dir = absl::GetFlag(FLAGS_checkpoint_dir);
  p->every = absl::GetFlag(FLAGS_checkpoint_every);
  p->keep = absl::GetFlag(FLAGS_keep_checkpoints);
  if (p->every < 0)
    return Bad("--checkpoint_every must be >= 0 (0: no periodic checkpoints)");
  if (p->every > 0 && p->dir.empty())
    return Bad("--checkpoint_every needs --checkpoint_dir to write into");
  if (p->keep < 1)
    return Bad(
        absl::StrCat("--keep_checkpoints=", p->keep, " must be at least 1"));
  return p->dir.empty() ? absl::OkStatus() : CheckpointDir::Prepare(p->dir);
}

}  // namespace

absl::StatusOr<ServerOptions> ServerOptionsFromFlags() {
  ServerOptions o;
  ServerConfig& c = o.config;
  c.server_id = absl::GetFlag(FLAGS_server_id);
  c.num_servers = absl::GetFlag(FLAGS_num_servers);
  c.num_workers = absl::GetFlag(FLAGS_num_workers);
  absl::Status s = CheckTopology(c);
  if (!s.ok()) return s;
  absl::StatusOr<ConsistencyMode> mode =
      ParseConsistencyMode(absl::GetFlag(FLAGS_mode));
  if (!mode.ok()) return Bad(absl::StrCat("--mode: ", mode.status().message()));
  c.mode = *mode;
  const int staleness = absl::GetFlag(FLAGS_staleness);
  if (staleness >= 0 && c.mode != MODE_SSP)
    return Bad("--staleness only applies to --mode=ssp; drop it or use ssp");
  c.staleness = staleness >= 0 ? staleness : 2;
  const int timeout = absl::GetFlag(FLAGS_worker_timeout);
  if (timeout < 1)
    return Bad(absl::StrCat("--worker_timeout=", timeout,
                            " must be at least 1 (seconds)"));
  c.worker_timeout = absl::Seconds(timeout);
  c.elastic = absl::GetFlag(FLAGS_elastic);
  if (c.elastic && c.mode != MODE_SYNC)
    return Bad("--elastic only applies to --mode=sync; drop it");
  absl::StatusOr<OptimizerConfig> opt = OptimizerFromFlags();
  if (!opt.ok()) return opt.status();
  c.optimizer = *opt;
  c.update_threads = absl::GetFlag(FLAGS_update_threads);
  if (c.update_threads < 0 || c.update_threads > 1024)
    return Bad("--update_threads must be in [0, 1024] (0: every core)");
  o.port = absl::GetFlag(FLAGS_port);
  if (o.port < 0 || o.port > 65535)
    return Bad(absl::StrCat("--port=", o.port, " is not a TCP port"));
  if (absl::GetFlag(FLAGS_chunk_bytes) < 4)
    return Bad("--chunk_bytes must be at least 4");
  o.max_message_mb = absl::GetFlag(FLAGS_max_message_mb);
  if (o.max_message_mb < 1 || o.max_message_mb > 2047)
    return Bad("--max_message_mb must be in [1, 2047]");
  if (absl::GetFlag(FLAGS_chunk_bytes) > (int64_t{o.max_message_mb} << 20))
    return Bad("--chunk_bytes is larger than --max_message_mb allows");
  o.bind_address = absl::GetFlag(FLAGS_bind_address);
  o.port_file = absl::GetFlag(FLAGS_port_file);
  o.metrics_port = absl::GetFlag(FLAGS_metrics_port);
  o.log_level = absl::GetFlag(FLAGS_log_level);
  o.restore_from = absl::GetFlag(FLAGS_restore_from);
  o.security_files.tls_cert = absl::GetFlag(FLAGS_tls_cert);
  o.security_files.tls_key = absl::GetFlag(FLAGS_tls_key);
  o.security_files.tls_client_ca = absl::GetFlag(FLAGS_tls_client_ca);
  o.security_files.auth_token_file = absl::GetFlag(FLAGS_auth_token_file);
  o.limits.max_waiting_pulls = absl::GetFlag(FLAGS_max_waiting_pulls);
  o.limits.max_waiting_pulls_per_caller =
      absl::GetFlag(FLAGS_max_waiting_pulls_per_caller);
  if (o.limits.max_waiting_pulls < 1 ||
      o.limits.max_waiting_pulls_per_caller < 1)
    return Bad(
        "--max_waiting_pulls and --max_waiting_pulls_per_caller must be >= 1");
  o.limits.max_message_mb = o.max_message_mb;
  s = CheckpointFlags(&o.checkpoints);
  if (!s.ok()) return s;
  return o;
}

void ConfigureServerBuilder(const ServerOptions& options,
                            grpc::ServerBuilder& builder) {
  const int max_bytes = options.max_message_mb << 20;
  builder.SetMaxReceiveMessageSize(max_bytes);
  builder.SetMaxSendMessageSize(max_bytes);
  builder.AddChannelArgument("grpc.http2.lookahead_bytes", 64 << 20);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_FRAME_SIZE, 16 << 20);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, 1024);
}

}  // namespace pserve
