// Pieces shared by ps_bench suites: the GPT-2 124M tensor list, timing, and
// the table printer. Not thread-safe: used from the bench's main thread.
#ifndef PSERVE_TOOLS_BENCH_COMMON_H_
#define PSERVE_TOOLS_BENCH_COMMON_H_

#include <chrono>
#include <string>
#include <vector>

#include "proto/ps.pb.h"

namespace pserve {

// GPT-2 124M in llm.c's order (V padded to 50304, C=768, L=12, T=1024).
std::vector<TensorSpec> Gpt2SmallTensors();

inline double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

struct BenchRow {
  std::string name;
  double value;
  std::string unit;
  std::string note;
};

void PrintTable(const std::vector<BenchRow>& rows);

// Loopback TCP throughput in GB/s: one stream from this process to a forked
// child that reads and discards `bytes` (sent from a warm reused buffer).
double MeasureLoopbackTcp(size_t bytes);

// memcpy bandwidth (bytes read + written per second, GB/s) and AdamW update
// bandwidth (28 bytes per parameter per second, GB/s) over n parameters,
// each the best of `reps` runs on warm memory, single-threaded.
double MeasureCopyGbps(size_t n, int reps);
double MeasureAdamwGbps(size_t n, int reps);

}  // namespace pserve

#endif  // PSERVE_TOOLS_BENCH_COMMON_H_
