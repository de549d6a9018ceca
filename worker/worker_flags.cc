// ps_worker's flags and their validation. Not thread-safe: read once from
// main() after command-line parsing.
#include "worker/worker_flags.h"

#include <sys/stat.h>

#include <cstdint>
#include <string>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/consistency_mode.h"
#include "common/security_flags.h"
#include "worker/client/ps_client.h"
#include "worker/data/tokenizer.h"
#include "worker/mlp_flags.h"

ABSL_FLAG(std::string, servers, "",
          "Required. Parameter servers as host:port,host:port,... in server-id "
          "order (the same list on every worker).");
ABSL_FLAG(int, rank, 0, "This worker's rank in [0, --num_workers).");
ABSL_FLAG(int, num_workers, 1,
          "Workers in the job (>= 1); must equal the servers' --num_workers.");
ABSL_FLAG(std::string, mode, "sync",
          "sync (pull waits for step t's version), async (no wait) or ssp "
          "(pull carries the step as its clock); must equal the servers' "
          "--mode.");
ABSL_FLAG(std::string, data, "",
          "Required. Training token shard (train.bin from ps_prepare). Worker "
          "w of W reads its own rows of every global batch.");
ABSL_FLAG(std::string, val_data, "",
          "Validation token shard (val.bin); empty: no evaluation.");
ABSL_FLAG(std::string, tokenizer, "",
          "Optional tokenizer file (tokenizer.bin): the model's vocabulary "
          "must match it; with --vocab_size=0 the model takes its size.");
ABSL_FLAG(std::string, model, "tiny",
          "Model preset: tiny (L=2 C=64), small (L=4 C=256) or gpt2-124m; "
          "or mlp, a dense model on a tabular --data file (ps_prepare "
          "--target), shaped by --hidden, --activation, --loss, --init.");
ABSL_FLAG(int, num_layers, 0, "Override the preset's layer count (0: keep).");
ABSL_FLAG(int, num_heads, 0, "Override the preset's head count (0: keep).");
ABSL_FLAG(int, channels, 0, "Override the preset's width C (0: keep).");
ABSL_FLAG(int, max_seq_len, 0,
          "Override the preset's context length (0: keep).");
ABSL_FLAG(int, vocab_size, 0,
          "Override the preset's vocabulary (0: the tokenizer's if given, "
          "else the preset's).");
ABSL_FLAG(std::string, backend, "cpu", "Compute backend: cpu or cuda.");
ABSL_FLAG(int, gpu, 0, "CUDA device index (--backend=cuda).");
ABSL_FLAG(bool, tf32, true, "Allow TF32 matmuls (--backend=cuda).");
ABSL_FLAG(int, threads, 0, "CPU backend threads (0: all cores).");
ABSL_FLAG(int, batch_size, 4,
          "Rows per micro-batch on this worker (B); the global batch is "
          "W * B * --grad_accum_steps rows. --model=mlp: 0 means this "
          "worker's whole shard every step (full-batch gradient descent).");
ABSL_FLAG(int, seq_len, 0, "Tokens per row (T); 0: the model's max_seq_len.");
ABSL_FLAG(int64_t, steps, 100, "Training steps (server versions) to run.");
ABSL_FLAG(int64_t, eval_every, 0,
          "Evaluate every N steps (and at step 0); 0: only at the end. Needs "
          "--val_data.");
ABSL_FLAG(int, eval_batches, 10,
          "Batches of the validation shard (in file order, the same on every "
          "rank) averaged per evaluation.");
ABSL_FLAG(int, grad_accum_steps, 1,
          "Micro-batches per step; their gradients are averaged (each scaled "
          "1/k) before one push. k > 1 pushes after the last backward, so it "
          "turns off the per-layer push overlap.");
ABSL_FLAG(double, grad_clip, 0.0,
          "Clip this worker's gradient to this global L2 norm before pushing; "
          "0 (default) turns clipping off. Clipping needs the whole gradient "
          "before pushing, so it disables the per-layer push overlap.");
ABSL_FLAG(bool, overlap_pull, true,
          "CPU backend: pull the next step's parameters group by group while "
          "this step still runs (sync: issued as each gradient group is "
          "pushed, the servers answer once the step is applied) and start "
          "the forward pass layer by layer as they arrive; false: one pull "
          "before each forward. The parameters are the same bits either way.");
ABSL_FLAG(uint64_t, seed, 0,
          "Seed of the data order and of the model's initialisation (the same "
          "on every worker).");
ABSL_FLAG(int64_t, chunk_bytes, 4 << 20,
          "Largest chunk a tensor is cut into (default 4 MiB); must equal the "
          "servers' --chunk_bytes.");
ABSL_FLAG(std::string, export, "",
          "Rank 0: after training, write the final parameters to PATH (llm.c "
          "checkpoint) and PATH with .safetensors (Hugging Face GPT-2 names).");
ABSL_FLAG(int64_t, log_every, 10, "Log a training line every N steps.");
ABSL_FLAG(std::string, metrics_file, "",
          "Append one JSON object per line: {\"kind\":\"train\",...} every "
          "--log_every steps and {\"kind\":\"val\",...} per evaluation.");
ABSL_FLAG(
    int64_t, checkpoint_every, 0,
    "Rank 0 asks every server to checkpoint every N steps (0: none), "
    "into the server's own --checkpoint_dir as server-<id>.ckpt; "
    "restart servers from them with --restore_from. In sync mode they are "
    "taken right after rank 0's pull, when every chunk is at the same "
    "version.");
ABSL_FLAG(int, metrics_port, -1,
          "Serve Prometheus metrics on this port (/metrics); -1 off, 0 free.");
ABSL_FLAG(int, metrics_linger, 0,
          "After training, keep serving /metrics until one scrape has read "
          "the final values or N seconds pass (0: exit at once). Set it above "
          "the scrape interval so a batch job's last values are scraped.");
ABSL_FLAG(int, connect_timeout, 60,
          "Seconds to wait for each server at start (retried with backoff).");
ABSL_FLAG(int, server_timeout, 300,
          "Seconds to keep retrying a server that became unavailable during "
          "training (a restarting pod), logging once a minute; then exit.");
ABSL_FLAG(std::string, wire_dtype, "fp32",
          "Encoding of pulled parameters and pushed gradients on the wire: "
          "fp32 (exact), bf16 or fp16 (half the bytes; sync mode is then no "
          "longer bit-exact).");
ABSL_FLAG(std::string, log_level, "info",
          "trace, debug, info, warn, error or off.");

namespace pserve {
namespace {

absl::Status Invalid(const std::string& flag, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", why));
}

bool IsFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

absl::Status CheckFile(const std::string& flag, const std::string& path,
                       const std::string& hint) {
  if (IsFile(path)) return absl::OkStatus();
  return absl::NotFoundError(
      absl::StrCat("--", flag, "=", path, ": no such file; ", hint));
}

absl::Status ReadCluster(WorkerOptions* o) {
  const std::string list = absl::GetFlag(FLAGS_servers);
  if (list.empty())
    return Invalid("servers", "required, e.g. --servers=localhost:7070");
  absl::StatusOr<std::vector<std::string>> servers = ParseServerList(list);
  if (!servers.ok())  // the message already names --servers
    return absl::InvalidArgumentError(servers.status().message());
  o->servers = *servers;
  absl::StatusOr<ClientSecurity> security = ClientSecurityFromFlags();
  if (!security.ok()) return security.status();
  o->security = *std::move(security);
  o->num_workers = absl::GetFlag(FLAGS_num_workers);
  o->rank = absl::GetFlag(FLAGS_rank);
  if (o->num_workers < 1)
    return Invalid("num_workers",
                   absl::StrCat(o->num_workers, " must be >= 1"));
  if (o->rank < 0 || o->rank >= o->num_workers)
    return Invalid("rank", absl::StrCat(o->rank, " must be in [0, ",
                                        o->num_workers, ") (--num_workers)"));
  absl::StatusOr<ConsistencyMode> mode =
      ParseConsistencyMode(absl::GetFlag(FLAGS_mode));
  if (!mode.ok()) return Invalid("mode", std::string(mode.status().message()));
  o->mode = *mode;
  o->chunk_bytes = absl::GetFlag(FLAGS_chunk_bytes);
  if (o->chunk_bytes < 4)
    return Invalid("chunk_bytes", "must be >= 4 (default 4194304)");
  o->connect_timeout_s = absl::GetFlag(FLAGS_connect_timeout);
  o->server_timeout_s = absl::GetFlag(FLAGS_server_timeout);
  if (o->server_timeout_s < 1)
    return Invalid("server_timeout", "must be >= 1 second");
  const std::string dtype = absl::GetFlag(FLAGS_wire_dtype);
  if (dtype == "fp32") {
    o->wire_dtype = FP32;
  } else if (dtype == "bf16") {
    o->wire_dtype = BF16;
  } else if (dtype == "fp16") {
    o->wire_dtype = FP16;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "--wire_dtype=", dtype, " is not an encoding: use fp32, bf16 or fp16"));
  }
  if (o->connect_timeout_s < 1)
    return Invalid("connect_timeout", "must be >= 1 second");
  return absl::OkStatus();
}

absl::Status ApplyOverride(const char* flag, int value, int* field) {
  if (value < 0) return Invalid(flag, "must be >= 0 (0 keeps the preset)");
  if (value > 0) *field = value;
  return absl::OkStatus();
}

absl::Status ReadVocab(WorkerOptions* o) {
  int vocab = absl::GetFlag(FLAGS_vocab_size);
  if (vocab < 0 || vocab > 65536)
    return Invalid("vocab_size", "must be in [0, 65536] (0 keeps the preset)");
  o->tokenizer = absl::GetFlag(FLAGS_tokenizer);
  if (!o->tokenizer.empty()) {
    absl::Status s =
        CheckFile("tokenizer", o->tokenizer,
                  "run ps_prepare first (it writes tokenizer.bin)");
    if (!s.ok()) return s;
    absl::StatusOr<Tokenizer> tok = Tokenizer::Load(o->tokenizer);
    if (!tok.ok())
      return Invalid("tokenizer", std::string(tok.status().message()));
    if (vocab == 0) vocab = tok->vocab_size();
    if (vocab != tok->vocab_size())
      return Invalid(
          "vocab_size",
          absl::StrCat(vocab, " but the tokenizer has ", tok->vocab_size(),
                       " tokens; pass --vocab_size=", tok->vocab_size(),
                       " or 0"));
  }
  if (vocab > 0) {
    o->config.vocab_size = vocab;
    o->config.padded_vocab_size = PadVocab(vocab);
  }
  return absl::OkStatus();
}

// --model=mlp: refuses the flags that only shape or feed a GPT model.
absl::Status ReadMlp(WorkerOptions* o) {
  absl::StatusOr<MlpConfig> mlp = MlpConfigFromFlags();
  if (!mlp.ok()) return mlp.status();
  o->mlp = *mlp;
  const bool gpt_only[] = {absl::GetFlag(FLAGS_num_layers) != 0,
                           absl::GetFlag(FLAGS_num_heads) != 0,
                           absl::GetFlag(FLAGS_channels) != 0,
                           absl::GetFlag(FLAGS_max_seq_len) != 0,
                           absl::GetFlag(FLAGS_vocab_size) != 0,
                           absl::GetFlag(FLAGS_seq_len) != 0,
                           !absl::GetFlag(FLAGS_tokenizer).empty(),
                           absl::GetFlag(FLAGS_grad_accum_steps) != 1,
                           absl::GetFlag(FLAGS_grad_clip) != 0.0};
  const char* names[] = {"num_layers",  "num_heads",        "channels",
                         "max_seq_len", "vocab_size",       "seq_len",
                         "tokenizer",   "grad_accum_steps", "grad_clip"};
  for (size_t i = 0; i < sizeof(gpt_only) / sizeof(gpt_only[0]); ++i)
    if (gpt_only[i])
      return Invalid(names[i], "applies to GPT models, not --model=mlp");
  return absl::OkStatus();
}

absl::Status ReadModel(WorkerOptions* o) {
  o->model_name = absl::GetFlag(FLAGS_model);
  if (o->model_name == "mlp") return ReadMlp(o);
  absl::StatusOr<GptConfig> preset = GptPreset(o->model_name);
  if (!preset.ok())
    return Invalid("model", std::string(preset.status().message()));
  o->config = *preset;
  absl::Status s = ApplyOverride("num_layers", absl::GetFlag(FLAGS_num_layers),
                                 &o->config.num_layers);
  if (s.ok())
    s = ApplyOverride("num_heads", absl::GetFlag(FLAGS_num_heads),
                      &o->config.num_heads);
  if (s.ok())
    s = ApplyOverride("channels", absl::GetFlag(FLAGS_channels),
                      &o->config.channels);
  if (s.ok())
    s = ApplyOverride("max_seq_len", absl::GetFlag(FLAGS_max_seq_len),
                      &o->config.max_seq_len);
  if (s.ok()) s = ReadVocab(o);
  if (!s.ok()) return s;
  s = ValidateGptConfig(o->config);
  if (!s.ok())
    return Invalid(
        "model", absl::StrCat(o->model_name, " with overrides: ", s.message()));
  return absl::OkStatus();
}

absl::Status ReadCompute(WorkerOptions* o) {
  o->backend = absl::GetFlag(FLAGS_backend);
  if (o->backend != "cpu" && o->backend != "cuda")
    return Invalid("backend", "'" + o->backend + "': use cpu or cuda");
  o->gpu = absl::GetFlag(FLAGS_gpu);
  o->tf32 = absl::GetFlag(FLAGS_tf32);
  o->threads = absl::GetFlag(FLAGS_threads);
  if (o->gpu < 0) return Invalid("gpu", "must be >= 0");
  if (o->threads < 0) return Invalid("threads", "must be >= 0 (0: all cores)");
  o->batch_size = absl::GetFlag(FLAGS_batch_size);
  if (o->mlp) {
    if (o->batch_size < 0)
      return Invalid("batch_size", "must be >= 0 (0: the whole shard)");
    return absl::OkStatus();
  }
  if (o->batch_size < 1) return Invalid("batch_size", "must be >= 1");
  o->seq_len = absl::GetFlag(FLAGS_seq_len);
  if (o->seq_len == 0) o->seq_len = o->config.max_seq_len;
  if (o->seq_len < 1 || o->seq_len > o->config.max_seq_len)
    return Invalid("seq_len", absl::StrCat(o->seq_len, " must be in [1, ",
                                           o->config.max_seq_len,
                                           "] (the model's max_seq_len)"));
  return absl::OkStatus();
}

absl::Status ReadTraining(WorkerOptions* o) {
  o->steps = absl::GetFlag(FLAGS_steps);
  o->eval_every = absl::GetFlag(FLAGS_eval_every);
  o->eval_batches = absl::GetFlag(FLAGS_eval_batches);
  o->grad_accum_steps = absl::GetFlag(FLAGS_grad_accum_steps);
  o->grad_clip = absl::GetFlag(FLAGS_grad_clip);
  o->overlap_pull = absl::GetFlag(FLAGS_overlap_pull);
  o->seed = absl::GetFlag(FLAGS_seed);
  o->log_every = absl::GetFlag(FLAGS_log_every);
  if (o->steps < 0) return Invalid("steps", "must be >= 0");
  if (o->eval_every < 0) return Invalid("eval_every", "must be >= 0");
  if (o->eval_batches < 1) return Invalid("eval_batches", "must be >= 1");
  if (o->grad_accum_steps < 1)
    return Invalid("grad_accum_steps", "must be >= 1");
  if (!(o->grad_clip >= 0))
    return Invalid("grad_clip", "must be >= 0 (0 turns clipping off)");
  if (o->log_every < 1) return Invalid("log_every", "must be >= 1");
  return absl::OkStatus();
}

absl::Status ReadFiles(WorkerOptions* o) {
  o->data = absl::GetFlag(FLAGS_data);
  o->val_data = absl::GetFlag(FLAGS_val_data);
  if (o->data.empty())
    return Invalid("data",
                   o->mlp ? "required: a tabular file, e.g. "
                            "--data=data/train.tab (ps_prepare --target)"
                          : "required: a token shard, e.g. "
                            "--data=data/train.bin (written by ps_prepare)");
  absl::Status s = CheckFile("data", o->data, "run ps_prepare first");
  if (s.ok() && !o->val_data.empty())
    s = CheckFile("val_data", o->val_data, "run ps_prepare first");
  if (!s.ok()) return s;
  if (o->eval_every > 0 && o->val_data.empty())
    return Invalid("eval_every", "needs --val_data (e.g. data/val.bin)");
  o->export_path = absl::GetFlag(FLAGS_export);
  o->checkpoint_every = absl::GetFlag(FLAGS_checkpoint_every);
  if (o->checkpoint_every < 0)
    return Invalid("checkpoint_every", "must be >= 0 (0: no checkpoints)");
  o->metrics_file = absl::GetFlag(FLAGS_metrics_file);
  o->metrics_port = absl::GetFlag(FLAGS_metrics_port);
  o->metrics_linger_s = absl::GetFlag(FLAGS_metrics_linger);
  o->log_level = absl::GetFlag(FLAGS_log_level);
  if (o->metrics_port < -1 || o->metrics_port > 65535)
    return Invalid("metrics_port", "must be -1 (off), 0 (free) or a port");
  if (o->metrics_linger_s < 0 || o->metrics_linger_s > 3600)
    return Invalid("metrics_linger", "must be 0 to 3600 seconds");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<WorkerOptions> WorkerOptionsFromFlags() {
  WorkerOptions o;
  absl::Status s = ReadCluster(&o);
  if (s.ok()) s = ReadModel(&o);
  if (s.ok()) s = ReadCompute(&o);
  if (s.ok()) s = ReadTraining(&o);
  if (s.ok()) s = ReadFiles(&o);
  if (!s.ok()) return s;
  return o;
}

std::string DescribeWorkerOptions(const WorkerOptions& o) {
  if (o.mlp)
    return absl::StrCat("rank ", o.rank, " of ", o.num_workers, ", mode ",
                        ConsistencyModeName(o.mode), ", servers ",
                        absl::StrJoin(o.servers, ","), ", model mlp (",
                        MlpConfigString(*o.mlp), "), backend ", o.backend,
                        ", B=", o.batch_size, ", steps ", o.steps, ", seed ",
                        o.seed);
  return absl::StrCat("rank ", o.rank, " of ", o.num_workers, ", mode ",
                      ConsistencyModeName(o.mode), ", servers ",
                      absl::StrJoin(o.servers, ","), ", model ", o.model_name,
                      " (", GptConfigString(o.config), "), backend ", o.backend,
                      ", B=", o.batch_size, " T=", o.seq_len,
                      " accum=", o.grad_accum_steps, " clip=", o.grad_clip,
                      ", steps ", o.steps, ", seed ", o.seed);
}

}  // namespace pserve
