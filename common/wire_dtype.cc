// Wire dtype conversions. Pure functions: thread-safe.
#include "common/wire_dtype.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#if !defined(__FLT16_MAX__)
#include <immintrin.h>
#endif

namespace pserve {
namespace {

// IEEE half precision, rounded to nearest even: the compiler's _Float16
// where it has one (gcc 12 on x86-64; clang 14 only with AVX512-FP16), else
// the F16C instructions (every x86-64-v3 CPU). Both give the same bits.
#if defined(__FLT16_MAX__)
uint16_t FloatToFp16(float x) {
  const _Float16 h = static_cast<_Float16>(x);
  uint16_t bits;
  std::memcpy(&bits, &h, 2);
  return bits;
}
float Fp16ToFloat(uint16_t bits) {
  _Float16 h;
  std::memcpy(&h, &bits, 2);
  return static_cast<float>(h);
}
#elif defined(__F16C__)
uint16_t FloatToFp16(float x) {
  return _cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT);
}
float Fp16ToFloat(uint16_t bits) { return _cvtsh_ss(bits); }
#else
#error "fp16 wire format needs _Float16 or F16C (build with -march=x86-64-v3)"
#endif

uint16_t FloatToBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffff) > 0x7f800000)
    return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7fff + ((u >> 16) & 1);
  return static_cast<uint16_t>(u >> 16);
}

float Bf16ToFloat(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

}  // namespace

size_t WireBytesPerElement(int dtype) {
  switch (dtype) {
    case FP32:
      return 4;
    case BF16:
    case FP16:
      return 2;
    default:
      return 0;
  }
}

void EncodeFloats(const float* in, size_t n, DType dtype, char* out) {
  if (dtype == FP32) {
    std::memcpy(out, in, n * 4);
  } else if (dtype == BF16) {
    for (size_t i = 0; i < n; ++i) {
      uint16_t h = FloatToBf16(in[i]);
      std::memcpy(out + 2 * i, &h, 2);
    }
  } else {
    for (size_t i = 0; i < n; ++i) {
      float x = std::fmax(-65504.0f, std::fmin(65504.0f, in[i]));
      uint16_t h = FloatToFp16(x);
      std::memcpy(out + 2 * i, &h, 2);
    }
  }
}

void DecodeFloats(const char* in, size_t n, DType dtype, float* out) {
  if (dtype == FP32) {
    std::memcpy(out, in, n * 4);
  } else if (dtype == BF16) {
    for (size_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, in + 2 * i, 2);
      out[i] = Bf16ToFloat(h);
    }
  } else {
    for (size_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, in + 2 * i, 2);
      out[i] = Fp16ToFloat(h);
    }
  }
}

bool AllFinite(const float* x, size_t n) {
  // NaN and Inf are the floats whose exponent bits are all ones. An integer
  // OR-reduction vectorises (a float sum would not: its order is fixed).
  const uint32_t* bits = reinterpret_cast<const uint32_t*>(x);
  uint32_t bad = 0;
  for (size_t i = 0; i < n; ++i)
    bad |= static_cast<uint32_t>((bits[i] & 0x7f800000u) == 0x7f800000u);
  return bad == 0;
}

}  // namespace pserve
