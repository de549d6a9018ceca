// Tests of the MLP: the declared tensors and init rules, a whole-model
// finite-difference gradient check for every activation and loss on the
// CPU backend (eps 1e-2 on the float forward; |numeric - analytic| <=
// 5e-4 + 5e-3 |analytic|), and the safetensors export's names and shapes.
// Thread-safety: single-threaded Catch2 tests.
#include "worker/model/mlp.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <random>
#include <string>

#include "common/model_layout.h"

namespace pserve {
namespace {

MlpConfig Config(Activation act, MlpLoss loss, int outputs) {
  MlpConfig c;
  c.inputs = 5;
  c.hidden = {4, 3};
  c.outputs = outputs;
  c.activation = act;
  c.loss = loss;
  c.init = MlpInit::kKaiming;
  return c;
}

std::vector<float> InitParams(const MlpConfig& c, uint64_t seed) {
  std::vector<float> p;
  for (const TensorSpec& t : MlpParameterSpecs(c)) {
    int64_t n = 1;
    for (int64_t d : t.shape()) n *= d;
    std::vector<float> v(n);
    InitRule rule = t.init();
    if (rule.kind() == InitRule::ZEROS) {  // nonzero biases test more paths
      rule.set_kind(InitRule::NORMAL);
      rule.set_std(0.3f);
    }
    FillInit(seed, t.name(), 0, n, rule, v.data());
    p.insert(p.end(), v.begin(), v.end());
  }
  return p;
}

}  // namespace

TEST_CASE("MLP declares fc weights (out, in) and biases with init rules") {
  MlpConfig c = Config(Activation::kRelu, MlpLoss::kCrossEntropy, 3);
  c.init = MlpInit::kXavier;
  const std::vector<TensorSpec> specs = MlpParameterSpecs(c);
  REQUIRE(specs.size() == 6);
  CHECK(specs[0].name() == "fc1.weight");
  CHECK(specs[0].shape(0) == 4);
  CHECK(specs[0].shape(1) == 5);
  CHECK(specs[0].init().kind() == InitRule::UNIFORM);
  CHECK(specs[0].init().bound() == Approx(std::sqrt(6.0 / 9)));
  CHECK(specs[5].name() == "fc3.bias");
  CHECK(specs[5].init().kind() == InitRule::ZEROS);
  CHECK(MlpNumParameters(c) == 4 * 6 + 3 * 5 + 3 * 4);
  CHECK(MlpConfigString(c) == "5->4->3->3 relu cross_entropy xavier");
  c.init = MlpInit::kKaiming;
  CHECK(MlpParameterSpecs(c)[2].init().std() == Approx(std::sqrt(2.0 / 4)));
  c.loss = MlpLoss::kHinge;
  c.outputs = 1;
  CHECK(!ValidateMlpConfig(c).ok());
  CHECK(!ParseMlpInit("he").ok());
  CHECK(ParseHidden("10,5").value() == std::vector<int>{10, 5});
  CHECK(!ParseHidden("10,x").ok());
}

TEST_CASE("MLP gradients match finite differences for every act and loss") {
  auto backend = MakeCpuBackend(1);
  constexpr int N = 7;
  std::mt19937 gen(11);
  std::normal_distribution<float> normal;
  std::vector<float> x(N * 5);
  for (float& v : x) v = normal(gen);
  for (Activation act :
       {Activation::kRelu, Activation::kSigmoid, Activation::kTanh}) {
    for (MlpLoss loss :
         {MlpLoss::kCrossEntropy, MlpLoss::kHinge, MlpLoss::kMse}) {
      const int K = loss == MlpLoss::kMse ? 1 : 3;
      const MlpConfig c = Config(act, loss, K);
      CAPTURE(MlpConfigString(c));
      std::vector<float> y(N);
      for (int i = 0; i < N; ++i) y[i] = K == 1 ? normal(gen) : i % K;
      auto mlp = Mlp::Create(c, backend.get(), N).value();
      std::vector<float> p = InitParams(c, 5), g(p.size());
      mlp->SetParameters(p.data());
      mlp->Forward(x.data(), y.data(), N);
      mlp->Backward(g.data());
      double worst = -1;
      for (size_t i = 0; i < p.size(); ++i) {
        const float saved = p[i];
        p[i] = saved + 1e-2f;
        mlp->SetParameters(p.data());
        const double plus = mlp->Forward(x.data(), y.data(), N);
        p[i] = saved - 1e-2f;
        mlp->SetParameters(p.data());
        const double minus = mlp->Forward(x.data(), y.data(), N);
        p[i] = saved;
        const double numeric = (plus - minus) / 2e-2;
        worst = std::max(
            worst, std::fabs(numeric - g[i]) - (5e-4 + 5e-3 * std::fabs(g[i])));
      }
      CHECK(worst <= 0.0);
    }
  }
}

TEST_CASE("ExportMlp writes fc tensors and the normalisation") {
  MlpConfig c = Config(Activation::kTanh, MlpLoss::kMse, 1);
  const std::vector<float> p = InitParams(c, 1);
  MlpNormalization norm;
  norm.input_mean = {1, 2, 3, 4, 5};
  norm.input_std = {1, 1, 1, 1, 2};
  norm.regression = true;
  norm.target_mean = 150, norm.target_std = 77;
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(tmp ? tmp : "/tmp") + "/m.safetensors";
  REQUIRE(ExportMlp(path, c, p.data(), norm).ok());
  std::ifstream in(path, std::ios::binary);
  uint64_t len = 0;
  in.read(reinterpret_cast<char*>(&len), 8);
  std::string json(len, ' ');
  in.read(json.data(), static_cast<std::streamsize>(len));
  for (const char* name : {"\"fc1.weight\":{\"dtype\":\"F32\",\"shape\":[4,5]",
                           "\"fc3.bias\"", "\"input_std\"", "\"target_mean\""})
    CHECK(json.find(name) != std::string::npos);
  in.seekg(0, std::ios::end);
  CHECK(static_cast<size_t>(in.tellg()) ==
        8 + len + 4 * (p.size() + 5 + 5 + 2));
}

}  // namespace pserve
