// Conversion between fp32 tensors and their wire encodings (fp32, bf16,
// fp16, little-endian). Pure functions: thread-safe.
#ifndef PSERVE_COMMON_WIRE_DTYPE_H_
#define PSERVE_COMMON_WIRE_DTYPE_H_

#include <cstddef>
#include <string>

#include "proto/ps.pb.h"

namespace pserve {

// Bytes per element of `dtype` on the wire; 0 for an unknown value.
size_t WireBytesPerElement(int dtype);

// Writes n floats as `dtype` into out (n * WireBytesPerElement bytes).
// bf16 rounds to nearest even; fp16 saturates to +-65504.
void EncodeFloats(const float* in, size_t n, DType dtype, char* out);

// Reads n elements of `dtype` from in into out (n floats).
void DecodeFloats(const char* in, size_t n, DType dtype, float* out);

// True if all n floats are finite.
bool AllFinite(const float* x, size_t n);

}  // namespace pserve

#endif  // PSERVE_COMMON_WIRE_DTYPE_H_
