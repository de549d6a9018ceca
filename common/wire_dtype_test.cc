// Wire dtype round trips and the finiteness check.
#include "common/wire_dtype.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace pserve {
namespace {

TEST_CASE("fp32 round trip is exact; bf16 and fp16 are close") {
  std::vector<float> x = {0.0f, 1.0f, -2.5f, 3.14159f, 1e-3f, -1234.5f};
  std::vector<char> buf(x.size() * 4);
  std::vector<float> y(x.size());
  EncodeFloats(x.data(), x.size(), FP32, buf.data());
  DecodeFloats(buf.data(), x.size(), FP32, y.data());
  REQUIRE(x == y);
  for (DType d : {BF16, FP16}) {
    REQUIRE(WireBytesPerElement(d) == 2);
    EncodeFloats(x.data(), x.size(), d, buf.data());
    DecodeFloats(buf.data(), x.size(), d, y.data());
    const double tol = d == BF16 ? 1.0 / 128 : 1.0 / 1024;
    for (size_t i = 0; i < x.size(); ++i)
      REQUIRE(y[i] == Approx(x[i]).epsilon(tol).margin(1e-6));
  }
  REQUIRE(WireBytesPerElement(42) == 0);
}

TEST_CASE("fp16 encodes IEEE half bits, rounding to nearest even") {
  // 1, the largest half, a value clamped to it, a tie that rounds to even
  // (1 + 2^-11 -> 1), one just above it (-> 1 + 2^-10), the smallest
  // subnormal, a value that rounds to zero, and -2.
  const std::vector<float> x = {1.0f,    65504.0f,      1e6f,  1.00048828125f,
                                1.0007f, 5.9604645e-8f, 1e-8f, -2.0f};
  const std::vector<uint16_t> want = {0x3c00, 0x7bff, 0x7bff, 0x3c00,
                                      0x3c01, 0x0001, 0x0000, 0xc000};
  std::vector<uint16_t> bits(x.size());
  EncodeFloats(x.data(), x.size(), FP16, reinterpret_cast<char*>(bits.data()));
  CHECK(bits == want);
  std::vector<float> back(x.size());
  DecodeFloats(reinterpret_cast<const char*>(want.data()), want.size(), FP16,
               back.data());
  CHECK(back[1] == 65504.0f);
  CHECK(back[4] == 1.0009765625f);
  CHECK(back[5] == std::ldexp(1.0f, -24));
}

TEST_CASE("AllFinite spots NaN and Inf") {
  std::vector<float> x(1000, 1.0f);
  REQUIRE(AllFinite(x.data(), x.size()));
  x[517] = std::numeric_limits<float>::quiet_NaN();
  REQUIRE(!AllFinite(x.data(), x.size()));
  x[517] = -std::numeric_limits<float>::infinity();
  REQUIRE(!AllFinite(x.data(), x.size()));
}

}  // namespace
}  // namespace pserve
