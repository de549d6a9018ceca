// TorchPeer: tools/torch_step_bench.py --serve run as a child process, the
// PyTorch side of ps_bench --suite=worker, stepped one timed step at a time.
// Thread-safety: none; one thread owns a TorchPeer and calls Start() once,
// then Step(). The destructor asks the child to quit and reaps it.
#ifndef PSERVE_TOOLS_TORCH_PEER_H_
#define PSERVE_TOOLS_TORCH_PEER_H_

#include <sys/types.h>

#include <cstdio>
#include <string>
#include <vector>

#include "worker/model/gpt_config.h"

namespace pserve {

// tools/torch_step_bench.py from ps_bench's runfiles when it is there, else
// the same path relative to the working directory.
std::string DefaultTorchScript();

// The arguments (after the interpreter) that start `script` as a peer
// training `config` on batches of `batch` sequences with `threads` threads,
// after `warmup` untimed steps.
std::vector<std::string> TorchArgs(const std::string& script,
                                   const GptConfig& config, int batch,
                                   int threads, int warmup);

// One timed PyTorch step per Step() call (or sgemm per Gemm() call), over
// a pair of pipes.
class TorchPeer {
 public:
  TorchPeer() = default;
  TorchPeer(const TorchPeer&) = delete;
  TorchPeer& operator=(const TorchPeer&) = delete;
  ~TorchPeer();

  // Starts `python args...` and waits for its warmup; false (with a message)
  // if it fails to start.
  bool Start(const std::string& python, const std::vector<std::string>& args);

  // Seconds of one PyTorch training step as the peer timed it, or a
  // negative value on error.
  double Step();

  // Seconds of one float32 product of two n x n matrices (torch.mm, the
  // BLAS's sgemm) as the peer timed it, or a negative value on error. The
  // first call for an n also allocates and warms up (untimed). Blocks.
  double Gemm(int n);

  // The BLAS PyTorch runs on, as the peer reported it once ready.
  std::string blas, blas_path;

 private:
  // Forks and execs the peer with its stdin and stdout on pipes.
  bool Spawn(const std::string& python, const std::vector<std::string>& args);
  std::string ReadLine();

  pid_t pid_ = -1;
  FILE* in_ = nullptr;
  FILE* out_ = nullptr;
};

}  // namespace pserve

#endif  // PSERVE_TOOLS_TORCH_PEER_H_
