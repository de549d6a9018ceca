// ps_worker's options: the absl flags (defined in worker_flags.cc, so
// --help lists them) read and checked as a whole into a WorkerOptions.
// Every combination that makes no sense is refused with one line naming the
// flag and how to fix it. Not thread-safe: read once from main() after
// command-line parsing; the resulting struct is a plain value.
#ifndef PSERVE_WORKER_WORKER_FLAGS_H_
#define PSERVE_WORKER_WORKER_FLAGS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/security.h"
#include "proto/ps.pb.h"
#include "worker/model/gpt_config.h"
#include "worker/model/mlp_config.h"

namespace pserve {

struct WorkerOptions {
  std::vector<std::string> servers;  // "host:port", index = server id
  int rank = 0;
  int num_workers = 1;
  ConsistencyMode mode = MODE_SYNC;  // --mode=sync | async | ssp
  std::string data;                  // train shard
  std::string val_data;              // val shard; empty: no evaluation
  std::string tokenizer;   // optional; only checks the vocabulary size
  std::string model_name;  // preset name, for logs
  GptConfig config;        // preset with overrides applied
  // --model=mlp: the MLP (then --data is a tabular file and the GPT fields
  // are unused); its input and output widths are 0 until the data is read.
  std::optional<MlpConfig> mlp;
  std::string backend = "cpu";  // cpu | cuda
  int gpu = 0;
  bool tf32 = true;
  int threads = 0;     // 0: all cores
  int batch_size = 4;  // MLP: 0 = this worker's whole shard per step
  int seq_len = 0;     // resolved: never 0 after validation
  int64_t steps = 100;
  int64_t eval_every = 0;  // 0: only at the end
  int eval_batches = 10;
  int grad_accum_steps = 1;
  double grad_clip = 0.0;    // 0: off
  bool overlap_pull = true;  // CPU backend: see --overlap_pull
  uint64_t seed = 0;
  int64_t chunk_bytes = 4 << 20;
  std::string export_path;
  int64_t checkpoint_every = 0;
  ClientSecurity security;  // --tls_ca, --tls_cert, --tls_key, token  // 0: no
                            // server checkpoints
  int64_t log_every = 10;
  std::string metrics_file;
  int metrics_port = -1;
  int metrics_linger_s = 0;  // see --metrics_linger
  int connect_timeout_s = 60;
  int server_timeout_s = 300;  // retrying a server lost during training
  DType wire_dtype = FP32;
  std::string log_level = "info";
};

// Reads the ps_worker flags, resolves the model (preset plus overrides, the
// vocabulary from --tokenizer when --vocab_size=0) and checks that the
// named files exist. INVALID_ARGUMENT (bad value) or NOT_FOUND (missing
// file), each with a one-line message that says how to fix it. Blocks on
// reading the tokenizer file.
absl::StatusOr<WorkerOptions> WorkerOptionsFromFlags();

// The options as one log line.
std::string DescribeWorkerOptions(const WorkerOptions& options);

}  // namespace pserve

#endif  // PSERVE_WORKER_WORKER_FLAGS_H_
