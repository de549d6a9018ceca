// Checks each optimizer against values computed here independently, in
// double precision, from the textbook formulas, over several steps.
#include "common/optimizer.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

namespace pserve {
namespace {

// Gradient of element i at step t: varied signs and magnitudes.
double Grad(int i, int t) { return std::sin(0.7 * i + 1.3 * t) * (1 + i); }

struct Run {
  std::vector<float> p, m, v;
};

Run RunOptimizer(const OptimizerConfig& c, int n, int steps) {
  Run r{std::vector<float>(n), std::vector<float>(n, 0),
        std::vector<float>(n, 0)};
  for (int i = 0; i < n; ++i) r.p[i] = 0.1f * (i - 2);
  std::vector<float> g(n);
  for (int t = 0; t < steps; ++t) {
    for (int i = 0; i < n; ++i) g[i] = static_cast<float>(Grad(i, t));
    ApplyUpdate(c, t, r.p.data(), g.data(), r.m.data(), r.v.data(), n);
  }
  return r;
}

double ExpectedAdam(const OptimizerConfig& c, int i, int steps,
                    bool decoupled) {
  double p = 0.1 * (i - 2), m = 0, v = 0;
  for (int t = 1; t <= steps; ++t) {
    double lr = LearningRate(c, t - 1);
    double g = Grad(i, t - 1) + (decoupled ? 0 : c.weight_decay * p);
    if (decoupled) p *= 1 - lr * c.weight_decay;
    m = c.beta1 * m + (1 - c.beta1) * g;
    v = c.beta2 * v + (1 - c.beta2) * g * g;
    double mhat = m / (1 - std::pow(c.beta1, t));
    double vhat = v / (1 - std::pow(c.beta2, t));
    p -= lr * mhat / (std::sqrt(vhat) + c.eps);
  }
  return p;
}

TEST_CASE("SGD with weight decay matches the formula") {
  OptimizerConfig c;
  c.kind = OptimizerKind::kSgd;
  c.lr = 0.05f;
  c.weight_decay = 0.01f;
  Run r = RunOptimizer(c, 5, 4);
  for (int i = 0; i < 5; ++i) {
    double p = 0.1 * (i - 2);
    for (int t = 0; t < 4; ++t) p -= 0.05 * (Grad(i, t) + 0.01 * p);
    REQUIRE(r.p[i] == Approx(p).epsilon(1e-5));
  }
}

TEST_CASE("Momentum and Nesterov match PyTorch's formulas") {
  for (bool nesterov : {false, true}) {
    OptimizerConfig c;
    c.kind = OptimizerKind::kMomentum;
    c.lr = 0.01f;
    c.momentum = 0.9f;
    c.nesterov = nesterov;
    Run r = RunOptimizer(c, 5, 5);
    for (int i = 0; i < 5; ++i) {
      double p = 0.1 * (i - 2), b = 0;
      for (int t = 0; t < 5; ++t) {
        double g = Grad(i, t);
        b = 0.9 * b + g;
        p -= 0.01 * (nesterov ? g + 0.9 * b : b);
      }
      REQUIRE(r.p[i] == Approx(p).epsilon(1e-5));
    }
  }
}

TEST_CASE("Adam and AdamW match bias-corrected formulas") {
  for (bool decoupled : {false, true}) {
    OptimizerConfig c;
    c.kind = decoupled ? OptimizerKind::kAdamW : OptimizerKind::kAdam;
    c.lr = 1e-2f;
    c.weight_decay = 0.1f;
    Run r = RunOptimizer(c, 6, 6);
    for (int i = 0; i < 6; ++i) {
      REQUIRE(r.p[i] == Approx(ExpectedAdam(c, i, 6, decoupled)).epsilon(1e-5));
    }
  }
}

TEST_CASE("Warmup then cosine schedule") {
  OptimizerConfig c;
  c.lr = 1.0f;
  c.schedule = LrSchedule::kCosine;
  c.warmup_steps = 4;
  c.total_steps = 14;
  REQUIRE(LearningRate(c, 0) == Approx(0.25));
  REQUIRE(LearningRate(c, 3) == Approx(1.0));
  REQUIRE(LearningRate(c, 4) == Approx(1.0));
  REQUIRE(LearningRate(c, 9) == Approx(0.5));
  REQUIRE(LearningRate(c, 14) == Approx(0.0).margin(1e-7));
  REQUIRE(LearningRate(c, 100) == Approx(0.0).margin(1e-7));
  c.schedule = LrSchedule::kConstant;
  REQUIRE(LearningRate(c, 9) == Approx(1.0));
}

TEST_CASE("Parsing and validation name the bad value") {
  REQUIRE(ParseOptimizerKind("adamw").value() == OptimizerKind::kAdamW);
  auto bad = ParseOptimizerKind("lion");
  REQUIRE(!bad.ok());
  REQUIRE(bad.status().message().find("lion") != std::string::npos);
  OptimizerConfig c;
  c.lr = -1;
  REQUIRE(!ValidateOptimizerConfig(c).ok());
  c.lr = 0.1f;
  c.schedule = LrSchedule::kCosine;
  REQUIRE(!ValidateOptimizerConfig(c).ok());
}

}  // namespace
}  // namespace pserve
