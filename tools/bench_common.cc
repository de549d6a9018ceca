// Physical-limit measurements for ps_bench: loopback TCP, memcpy, AdamW.
#include "tools/bench_common.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "common/optimizer.h"
#include "worker/model/gpt_config.h"

namespace pserve {
namespace {

void ReadAll(int fd, size_t bytes) {
  std::vector<char> buf(1 << 20);
  while (bytes > 0) {
    ssize_t n = read(fd, buf.data(), std::min(buf.size(), bytes));
    if (n <= 0) return;
    bytes -= n;
  }
}

}  // namespace

std::vector<TensorSpec> Gpt2SmallTensors() {
  return GptParameterSpecs(*GptPreset("gpt2-124m"));
}

void PrintTable(const std::vector<BenchRow>& rows) {
  std::printf("%-34s %14s  %-8s %s\n", "measure", "value", "unit", "note");
  for (const BenchRow& r : rows)
    std::printf("%-34s %14.3f  %-8s %s\n", r.name.c_str(), r.value,
                r.unit.c_str(), r.note.c_str());
}

double MeasureLoopbackTcp(size_t bytes) {
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      listen(listener, 1) != 0 ||
      getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return 0;
  pid_t child = fork();
  if (child == 0) {
    int fd = accept(listener, nullptr, nullptr);
    ReadAll(fd, bytes);
    char ack = 1;
    (void)!write(fd, &ack, 1);
    _exit(0);
  }
  close(listener);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    return 0;
  std::vector<char> buf(4 << 20, 1);  // warm, reused
  auto start = std::chrono::steady_clock::now();
  size_t left = bytes;
  while (left > 0) {
    ssize_t n = write(fd, buf.data(), std::min(buf.size(), left));
    if (n <= 0) break;
    left -= n;
  }
  char ack;
  (void)!read(fd, &ack, 1);
  const double secs = Seconds(start);
  close(fd);
  waitpid(child, nullptr, 0);
  return bytes / secs / 1e9;
}

double MeasureCopyGbps(size_t n, int reps) {
  std::vector<float> a(n, 1.0f), b(n, 2.0f);
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    auto start = std::chrono::steady_clock::now();
    std::memcpy(b.data(), a.data(), n * sizeof(float));
    best = std::min(best, Seconds(start));
  }
  return 2.0 * n * sizeof(float) / best / 1e9;
}

double MeasureAdamwGbps(size_t n, int reps) {
  std::vector<float> p(n, 0.1f), g(n, 0.01f), m(n, 0.0f), v(n, 0.0f);
  OptimizerConfig c;
  c.kind = OptimizerKind::kAdamW;
  c.weight_decay = 0.1f;
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    auto start = std::chrono::steady_clock::now();
    ApplyUpdate(c, r, p.data(), g.data(), m.data(), v.data(), n);
    best = std::min(best, Seconds(start));
  }
  return 28.0 * n / best / 1e9;
}

}  // namespace pserve
