// CPU backend tests beyond single-op numerics: memory ops, bitwise
// determinism for a fixed thread count, agreement across thread counts,
// and the accumulate (+=) contract of every backward op.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_test_util.h"
#include "kernels/ops.h"

namespace pserve {
namespace {

using testing::Buf;
using testing::FillRandom;
using testing::FillTokens;
using testing::IntBuf;

TEST_CASE("Memory ops allocate zeroed memory and copy", "[backend]") {
  auto be = MakeCpuBackend(2);
  REQUIRE(be->Name() == "cpu");
  constexpr size_t n = 300000;
  Buf a(be.get(), n), b(be.get(), n);
  for (size_t i = 0; i < n; ++i) REQUIRE(a[i] == 0.0f);
  IntBuf ints(be.get(), 5);
  for (int i = 0; i < 5; ++i) REQUIRE(ints[i] == 0);
  const std::vector<float> src = testing::RandomVector(n, 1);
  be->CopyFromHost(a.data(), src.data(), n);
  REQUIRE(a.Get() == src);
  std::vector<float> back(n);
  be->CopyToHost(back.data(), a.data(), n);
  REQUIRE(back == src);
  const int32_t tokens[5] = {4, 3, 2, 1, 0};
  be->CopyIntFromHost(ints.data(), tokens, 5);
  REQUIRE(ints[0] == 4);
  be->Zero(a.data(), n);
  REQUIRE(a.Get() == std::vector<float>(n, 0.0f));
  be->Synchronize();
}

TEST_CASE("Empty shapes are no-ops", "[backend]") {
  auto be = MakeCpuBackend(0);  // all cores
  Buf a(be.get(), 16), b(be.get(), 16);
  IntBuf ints(be.get(), 4);
  be->EncoderForward(a.data(), ints.data(), b.data(), b.data(), 0, 4, 4);
  be->EncoderBackward(a.data(), a.data(), b.data(), ints.data(), 0, 4, 4);
  be->LayerNormForward(a.data(), a.data(), a.data(), b.data(), b.data(),
                       b.data(), 0, 4);
  be->LayerNormBackward(a.data(), a.data(), a.data(), b.data(), b.data(),
                        b.data(), b.data(), b.data(), 0, 4);
  be->MatmulForward(a.data(), b.data(), b.data(), b.data(), 0, 4, 4);
  be->MatmulBackward(a.data(), a.data(), a.data(), b.data(), b.data(), b.data(),
                     0, 4, 4);
  be->AttentionForward(a.data(), a.data(), b.data(), 0, 4, 4, 2);
  be->AttentionBackward(a.data(), a.data(), b.data(), b.data(), b.data(), 0, 4,
                        4, 2);
  be->GeluForward(a.data(), b.data(), 0);
  be->GeluBackward(a.data(), b.data(), b.data(), 0);
  be->ResidualForward(a.data(), b.data(), b.data(), 0);
  be->ResidualBackward(a.data(), a.data(), b.data(), 0);
  be->SoftmaxCrossEntropy(a.data(), a.data(), b.data(), ints.data(), 0, 4, 3, 4,
                          1.0f);
  be->Scale(a.data(), 2.0f, 0);
  REQUIRE(be->SumSquares(a.data(), 0) == 0.0);
  REQUIRE(a.Get() == std::vector<float>(16, 0.0f));
}

// Every op on shapes big enough to take the multi-threaded paths; buffers
// are named so results can be compared between runs.
class Workload {
 public:
  static constexpr int B = 4, T = 80, C = 64, NH = 4, V = 100, Vp = 128;
  static constexpr int N = B * T, OC = 3 * C;

  explicit Workload(Backend* be) : be_(be), inp_(be, N), targets_(be, N) {
    FillTokens(inp_, N, V, 1);
    FillTokens(targets_, N, V, 2);
    const std::vector<std::pair<std::string, size_t>> inputs = {
        {"wte", V * C},   {"wpe", T * C},     {"x", N * C},
        {"lnw", C},       {"lnb", C},         {"w", OC * C},
        {"bias", OC},     {"qkv", N * 3 * C}, {"dout", N * C},
        {"dbig", N * OC}, {"logits", N * Vp}};
    uint32_t seed = 10;
    for (const auto& [name, size] : inputs) FillRandom(Add(name, size), seed++);
    for (const auto& [name, size] : kOutputs) Add(name, size);
    for (const auto& [name, size] : kGrads) Add(name, size);
    Add("datt", B * NH * T * T);  // scratch of AttentionBackward
  }

  void Forward() {
    be_->EncoderForward(P("enc"), inp_.data(), P("wte"), P("wpe"), B, T, C);
    be_->LayerNormForward(P("ln"), P("mean"), P("rstd"), P("x"), P("lnw"),
                          P("lnb"), N, C);
    be_->MatmulForward(P("mm"), P("x"), P("w"), P("bias"), N, C, OC);
    be_->AttentionForward(P("att_out"), P("att"), P("qkv"), B, T, C, NH);
    be_->GeluForward(P("gelu"), P("dbig"), N * OC);
    be_->ResidualForward(P("res"), P("x"), P("dout"), N * C);
    be_->SoftmaxCrossEntropy(P("losses"), P("dlogits"), P("logits"),
                             targets_.data(), B, T, V, Vp, 1.0f / N);
  }

  void Backward() {
    be_->EncoderBackward(P("dwte"), P("dwpe"), P("dout"), inp_.data(), B, T, C);
    be_->LayerNormBackward(P("dx_ln"), P("dlnw"), P("dlnb"), P("dout"), P("x"),
                           P("lnw"), P("mean"), P("rstd"), N, C);
    be_->MatmulBackward(P("dx_mm"), P("dw"), P("dbias"), P("dbig"), P("x"),
                        P("w"), N, C, OC);
    be_->AttentionBackward(P("dqkv"), P("datt"), P("dout"), P("qkv"), P("att"),
                           B, T, C, NH);
    be_->GeluBackward(P("dgelu"), P("dbig"), P("dbig"), N * OC);
    be_->ResidualBackward(P("da"), P("db"), P("dout"), N * C);
  }

  // Sets every gradient buffer to seeded random values (or zero).
  void SetGrads(bool random) {
    uint32_t seed = 100;
    for (const auto& [name, size] : kGrads) {
      if (random) {
        FillRandom(*bufs_.at(name), seed++);
      } else {
        be_->Zero(P(name), size);
      }
    }
  }

  std::map<std::string, std::vector<float>> Grads() const {
    return Snapshot(kGrads);
  }
  std::map<std::string, std::vector<float>> Outputs() const {
    return Snapshot(kOutputs);
  }

 private:
  using Names = std::vector<std::pair<std::string, size_t>>;
  // Buffer sizes, in floats.
  static constexpr size_t kNC = N * C, kNOC = N * OC, kNVp = N * Vp;
  static constexpr size_t kAtt = B * NH * T * T, kQkv = N * 3 * C;
  static constexpr size_t kVC = V * C, kTC = T * C, kOCC = OC * C;
  const Names kOutputs = {{"enc", kNC},  {"ln", kNC},      {"mean", N},
                          {"rstd", N},   {"mm", kNOC},     {"att_out", kNC},
                          {"att", kAtt}, {"gelu", kNOC},   {"res", kNC},
                          {"losses", N}, {"dlogits", kNVp}};
  const Names kGrads = {{"dwte", kVC},   {"dwpe", kTC}, {"dx_ln", kNC},
                        {"dlnw", C},     {"dlnb", C},   {"dx_mm", kNC},
                        {"dw", kOCC},    {"dbias", OC}, {"dqkv", kQkv},
                        {"dgelu", kNOC}, {"da", kNC},   {"db", kNC}};

  const Buf& Add(const std::string& name, size_t size) {
    auto buf = std::make_unique<Buf>(be_, size);
    return *(bufs_[name] = std::move(buf));
  }
  float* P(const std::string& name) { return bufs_.at(name)->data(); }
  std::map<std::string, std::vector<float>> Snapshot(const Names& names) const {
    std::map<std::string, std::vector<float>> out;
    for (const auto& [name, size] : names) out[name] = bufs_.at(name)->Get();
    return out;
  }

  Backend* be_;
  IntBuf inp_, targets_;
  std::map<std::string, std::unique_ptr<Buf>> bufs_;
};

// Runs forward and backward from zeroed gradients on a fresh backend.
std::map<std::string, std::vector<float>> RunAll(int threads) {
  auto be = MakeCpuBackend(threads);
  Workload w(be.get());
  w.SetGrads(false);
  w.Forward();
  w.Backward();
  auto all = w.Outputs();
  all.merge(w.Grads());
  return all;
}

TEST_CASE("Results are bitwise identical across runs", "[backend]") {
  const auto first = RunAll(2);
  const auto second = RunAll(2);
  for (const auto& [name, values] : first) {
    INFO(name);
    REQUIRE(values == second.at(name));
  }
}

TEST_CASE("Results agree across thread counts", "[backend]") {
  const auto one = RunAll(1);
  const auto two = RunAll(2);
  for (const auto& [name, values] : one) {
    const std::vector<float>& other = two.at(name);
    for (size_t i = 0; i < values.size(); ++i) {
      INFO(name << "[" << i << "]");
      REQUIRE(other[i] == Approx(values[i]).margin(1e-5).epsilon(1e-4));
    }
  }
}

TEST_CASE("SumSquares does not depend on the thread count", "[backend]") {
  const std::vector<float> x = testing::RandomVector(1 << 20, 7);
  auto one = MakeCpuBackend(1), two = MakeCpuBackend(2);
  Buf a(one.get(), x.size()), b(two.get(), x.size());
  a.Set(x);
  b.Set(x);
  REQUIRE(one->SumSquares(a.data(), x.size()) ==
          two->SumSquares(b.data(), x.size()));
}

TEST_CASE("Backward ops accumulate into existing gradients", "[backend]") {
  auto be = MakeCpuBackend(2);
  Workload w(be.get());
  w.Forward();
  w.SetGrads(false);
  w.Backward();
  const auto fresh = w.Grads();
  w.SetGrads(true);
  const auto start = w.Grads();
  w.Backward();
  const auto accumulated = w.Grads();
  for (const auto& [name, values] : fresh) {
    for (size_t i = 0; i < values.size(); ++i) {
      INFO(name << "[" << i << "]");
      REQUIRE(accumulated.at(name)[i] ==
              Approx(start.at(name)[i] + values[i]).margin(1e-5));
    }
  }
}

}  // namespace
}  // namespace pserve
