// Wire dtype round trips and the finiteness check.
#include "common/wire_dtype.h"

#include <catch2/catch.hpp>
#include <cmath>
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
