// TorchPeer: the PyTorch child process of ps_bench --suite=worker (see
// torch_peer.h). Thread-safety: as documented in the header.
#include "tools/torch_peer.h"

#include <sys/wait.h>
#include <unistd.h>

#include <climits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace pserve {
namespace {

// The value of `key=` in a line of space-separated key=value fields.
std::string Field(const std::string& line, const std::string& key) {
  for (absl::string_view f : absl::StrSplit(line, ' ')) {
    if (absl::ConsumePrefix(&f, key + "=")) return std::string(f);
  }
  return "";
}

}  // namespace

std::string DefaultTorchScript() {
  const std::string rel = "tools/torch_step_bench.py";
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n > 0) {
    const std::string runfile =
        std::string(buf, n) + ".runfiles/__main__/" + rel;
    if (access(runfile.c_str(), R_OK) == 0) return runfile;
  }
  return rel;
}

std::vector<std::string> TorchArgs(const std::string& script,
                                   const GptConfig& config, int batch,
                                   int threads, int warmup) {
  return {script,           "--serve",
          "--layers",       absl::StrCat(config.num_layers),
          "--channels",     absl::StrCat(config.channels),
          "--heads",        absl::StrCat(config.num_heads),
          "--seq_len",      absl::StrCat(config.max_seq_len),
          "--vocab",        absl::StrCat(config.vocab_size),
          "--padded_vocab", absl::StrCat(config.padded_vocab_size),
          "--batch",        absl::StrCat(batch),
          "--threads",      absl::StrCat(threads),
          "--warmup",       absl::StrCat(warmup)};
}

bool TorchPeer::Start(const std::string& python,
                      const std::vector<std::string>& args) {
  if (!Spawn(python, args)) return false;
  const std::string ready = ReadLine();
  if (ready.rfind("TORCH ready", 0) != 0) {
    std::fprintf(stderr, "ps_bench: the PyTorch peer did not start\n");
    return false;
  }
  blas = Field(ready, "blas");
  blas_path = Field(ready, "blas_path");
  return true;
}

bool TorchPeer::Spawn(const std::string& python,
                      const std::vector<std::string>& args) {
  int to_child[2], from_child[2];
  if (pipe(to_child) != 0 || pipe(from_child) != 0) return false;
  // Built before fork: the child only calls async-signal-safe functions.
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(python.c_str()));
  for (const std::string& a : args) {
    argv.push_back(const_cast<char*>(a.c_str()));
  }
  argv.push_back(nullptr);
  pid_ = fork();
  if (pid_ == 0) {
    dup2(to_child[0], 0);
    dup2(from_child[1], 1);
    close(to_child[1]);
    close(from_child[0]);
    execv(python.c_str(), argv.data());
    _exit(127);
  }
  close(to_child[0]);
  close(from_child[1]);
  if (pid_ < 0) return false;
  in_ = fdopen(to_child[1], "w");
  out_ = fdopen(from_child[0], "r");
  return true;
}

double TorchPeer::Step() {
  std::fputs("step\n", in_);
  std::fflush(in_);
  const std::string line = ReadLine();
  if (line.rfind("STEP ", 0) != 0) return -1;
  return std::stod(line.substr(5));
}

double TorchPeer::Gemm(int n) {
  std::fprintf(in_, "gemm %d\n", n);
  std::fflush(in_);
  const std::string line = ReadLine();
  if (line.rfind("GEMM ", 0) != 0) return -1;
  return std::stod(line.substr(5));
}

TorchPeer::~TorchPeer() {
  if (in_ != nullptr) {
    std::fputs("quit\n", in_);
    std::fclose(in_);
  }
  if (out_ != nullptr) std::fclose(out_);
  if (pid_ > 0) waitpid(pid_, nullptr, 0);
}

std::string TorchPeer::ReadLine() {
  std::string line;
  char buf[4096];
  while (std::fgets(buf, sizeof(buf), out_) != nullptr) {
    line += buf;
    if (!line.empty() && line.back() == '\n') {
      line.pop_back();
      return line;
    }
  }
  return line;
}

}  // namespace pserve
