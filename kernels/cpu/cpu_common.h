// Shared helpers of the Eigen CPU backend: Eigen map aliases, OpenMP work
// splitting and fixed-order vector primitives (sums, exp, tanh).
// Thread-safety: all helpers are stateless. Every reduction here sums in an
// order fixed by its length alone (never by addresses or scheduling), so the
// backend is bitwise deterministic for a fixed thread count.
#ifndef PSERVE_KERNELS_CPU_CPU_COMMON_H_
#define PSERVE_KERNELS_CPU_CPU_COMMON_H_

#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>

namespace pserve {
namespace cpu {

using RowMatrix =
    Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixMap = Eigen::Map<RowMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;
using ConstMatrixMap =
    Eigen::Map<const RowMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;

// A row-major (rows, cols) view whose rows start `stride` floats apart.
inline MatrixMap Mat(float* p, int64_t rows, int64_t cols, int64_t stride) {
  return MatrixMap(p, rows, cols, Eigen::OuterStride<>(stride));
}
inline ConstMatrixMap Mat(const float* p, int64_t rows, int64_t cols,
                          int64_t stride) {
  return ConstMatrixMap(p, rows, cols, Eigen::OuterStride<>(stride));
}

// Sets the calling thread's OpenMP thread count (which Eigen's GEMM reads)
// for the lifetime of the object and restores it afterwards. Per-thread
// state only: other threads and other backends are unaffected.
class OmpThreadScope {
 public:
  explicit OmpThreadScope(int threads) : saved_(omp_get_max_threads()) {
    omp_set_num_threads(threads);
  }
  ~OmpThreadScope() { omp_set_num_threads(saved_); }
  OmpThreadScope(const OmpThreadScope&) = delete;
  OmpThreadScope& operator=(const OmpThreadScope&) = delete;

 private:
  int saved_;
};

// How many contiguous chunks to split `n` items into on `threads` threads,
// keeping at least `min_items` per chunk. Depends only on its arguments.
inline int NumChunks(int64_t n, int threads, int64_t min_items) {
  const int64_t by_size =
      std::max<int64_t>(1, n / std::max<int64_t>(1, min_items));
  return static_cast<int>(std::min<int64_t>(std::max(1, threads), by_size));
}

// Calls fn(chunk, begin, end) for `chunks` contiguous chunks covering
// [0, n), one chunk per OpenMP thread (static schedule).
template <typename Fn>
void ParallelChunks(int64_t n, int chunks, Fn&& fn) {
  if (chunks < 1) return;
#pragma omp parallel for schedule(static) num_threads(chunks) if (chunks > 1)
  for (int c = 0; c < chunks; ++c) {
    fn(c, n * c / chunks, n * (c + 1) / chunks);
  }
}

// Splits [0, n) into ranges of at least `min_items` on up to `threads`
// threads and calls fn(begin, end) for each. For elementwise work.
template <typename Fn>
void ParallelRange(int64_t n, int threads, int64_t min_items, Fn&& fn) {
  if (n <= 0) return;
  ParallelChunks(n, NumChunks(n, threads, min_items),
                 [&](int, int64_t begin, int64_t end) { fn(begin, end); });
}

// Calls fn(i) for every i in [0, n), statically spread over threads.
template <typename Fn>
void ParallelItems(int64_t n, int threads, Fn&& fn) {
  if (n <= 0) return;
  const int nt = static_cast<int>(std::min<int64_t>(std::max(1, threads), n));
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
  for (int64_t i = 0; i < n; ++i) fn(i);
}

// Fixed-order vector primitives. Lanes are summed in a fixed pattern so the
// compiler may vectorize them without changing any result.
constexpr int kLanes = 16;

inline float Sum(const float* x, int64_t n) {
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) acc[j] += x[i + j];
  }
  for (int j = 0; i + j < n; ++j) acc[j] += x[i + j];
  for (int w = kLanes / 2; w > 0; w /= 2) {
    for (int j = 0; j < w; ++j) acc[j] += acc[j + w];
  }
  return acc[0];
}

inline float Dot(const float* x, const float* y, int64_t n) {
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) acc[j] += x[i + j] * y[i + j];
  }
  for (int j = 0; i + j < n; ++j) acc[j] += x[i + j] * y[i + j];
  for (int w = kLanes / 2; w > 0; w /= 2) {
    for (int j = 0; j < w; ++j) acc[j] += acc[j + w];
  }
  return acc[0];
}

inline float Max(const float* x, int64_t n) {
  float m = x[0];
  for (int64_t i = 1; i < n; ++i) m = std::max(m, x[i]);
  return m;
}

// Applies the packet function `op` to every element of x (n) in place,
// padding the tail into a full packet so every element takes the same path.
template <typename PacketOp>
void ApplyPacket(float* x, int64_t n, PacketOp op) {
  using Packet = Eigen::internal::packet_traits<float>::type;
  constexpr int kSize = Eigen::internal::packet_traits<float>::size;
  int64_t i = 0;
  for (; i + kSize <= n; i += kSize) {
    Eigen::internal::pstoreu(x + i, op(Eigen::internal::ploadu<Packet>(x + i)));
  }
  if (i == n) return;
  float tail[kSize] = {};
  std::copy(x + i, x + n, tail);
  Eigen::internal::pstoreu(tail, op(Eigen::internal::ploadu<Packet>(tail)));
  std::copy(tail, tail + (n - i), x + i);
}

// x (n) = exp(x - shift), elementwise.
inline void ExpShifted(float* x, int64_t n, float shift) {
  using Packet = Eigen::internal::packet_traits<float>::type;
  const Packet s = Eigen::internal::pset1<Packet>(shift);
  ApplyPacket(x, n, [&](const Packet& p) {
    return Eigen::internal::pexp(Eigen::internal::psub(p, s));
  });
}

// x (n) = tanh(x), elementwise.
inline void TanhInPlace(float* x, int64_t n) {
  using Packet = Eigen::internal::packet_traits<float>::type;
  ApplyPacket(x, n, [](const Packet& p) { return Eigen::internal::ptanh(p); });
}

}  // namespace cpu
}  // namespace pserve

#endif  // PSERVE_KERNELS_CPU_CPU_COMMON_H_
