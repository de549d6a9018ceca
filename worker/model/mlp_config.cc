// MLP configuration, parameter declaration and export; see mlp_config.h.
// Thread-safety: no shared state.
#include "worker/model/mlp_config.h"

#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "worker/model/export.h"

namespace pserve {
namespace {

template <typename E>
struct Named {
  const char* name;
  E value;
};

constexpr Named<Activation> kActivations[] = {{"relu", Activation::kRelu},
                                              {"sigmoid", Activation::kSigmoid},
                                              {"tanh", Activation::kTanh}};
constexpr Named<MlpLoss> kLosses[] = {{"cross_entropy", MlpLoss::kCrossEntropy},
                                      {"mse", MlpLoss::kMse},
                                      {"hinge", MlpLoss::kHinge}};
constexpr Named<MlpInit> kInits[] = {{"normal", MlpInit::kNormal},
                                     {"uniform", MlpInit::kUniform},
                                     {"zeros", MlpInit::kZeros},
                                     {"xavier", MlpInit::kXavier},
                                     {"kaiming", MlpInit::kKaiming}};

template <typename E, size_t N>
absl::StatusOr<E> Parse(const Named<E> (&table)[N], const std::string& flag,
                        const std::string& name) {
  std::vector<std::string> names;
  for (const Named<E>& n : table) {
    if (name == n.name) return n.value;
    names.push_back(n.name);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--", flag, "=", name, ": use ", absl::StrJoin(names, ", ")));
}

template <typename E, size_t N>
const char* NameOf(const Named<E> (&table)[N], E value) {
  for (const Named<E>& n : table)
    if (n.value == value) return n.name;
  return "?";
}

InitRule WeightInit(const MlpConfig& c, int layer) {
  const double in = c.in_width(layer), out = c.out_width(layer);
  InitRule r;
  switch (c.init) {
    case MlpInit::kNormal:
      r.set_kind(InitRule::NORMAL);
      r.set_std(c.init_scale);
      break;
    case MlpInit::kUniform:
      r.set_kind(InitRule::UNIFORM);
      r.set_bound(c.init_scale);
      break;
    case MlpInit::kZeros:
      r.set_kind(InitRule::ZEROS);
      break;
    case MlpInit::kXavier:
      r.set_kind(InitRule::UNIFORM);
      r.set_bound(static_cast<float>(std::sqrt(6.0 / (in + out))));
      break;
    case MlpInit::kKaiming:
      r.set_kind(InitRule::NORMAL);
      r.set_std(static_cast<float>(std::sqrt(2.0 / in)));
      break;
  }
  return r;
}

}  // namespace

absl::StatusOr<Activation> ParseActivation(const std::string& name) {
  return Parse(kActivations, "activation", name);
}
absl::StatusOr<MlpLoss> ParseMlpLoss(const std::string& name) {
  return Parse(kLosses, "loss", name);
}
absl::StatusOr<MlpInit> ParseMlpInit(const std::string& name) {
  return Parse(kInits, "init", name);
}
const char* ActivationName(Activation a) { return NameOf(kActivations, a); }
const char* MlpLossName(MlpLoss l) { return NameOf(kLosses, l); }
const char* MlpInitName(MlpInit i) { return NameOf(kInits, i); }

absl::StatusOr<std::vector<int>> ParseHidden(const std::string& list) {
  std::vector<int> widths;
  if (list.empty()) return widths;
  for (absl::string_view part : absl::StrSplit(list, ',')) {
    int w = 0;
    if (!absl::SimpleAtoi(part, &w) || w < 1 || w > 65536)
      return absl::InvalidArgumentError(
          absl::StrCat("--hidden=", list, ": '", part,
                       "' is not a width in [1, 65536]; e.g. --hidden=10,5"));
    widths.push_back(w);
  }
  return widths;
}

absl::Status ValidateMlpConfig(const MlpConfig& c) {
  if (c.inputs < 1 || c.outputs < 1)
    return absl::InvalidArgumentError("the MLP needs >= 1 input and output");
  if ((c.init == MlpInit::kNormal || c.init == MlpInit::kUniform) &&
      !(c.init_scale > 0 && std::isfinite(c.init_scale)))
    return absl::InvalidArgumentError(
        "--init_scale: must be > 0 (the std of normal, bound of uniform)");
  if (c.loss != MlpLoss::kMse && c.outputs < 2)
    return absl::InvalidArgumentError(absl::StrCat(
        "--loss=", MlpLossName(c.loss),
        " needs >= 2 classes; a regression file takes --loss=mse"));
  return absl::OkStatus();
}

std::string MlpConfigString(const MlpConfig& c) {
  std::vector<int> widths = {c.inputs};
  widths.insert(widths.end(), c.hidden.begin(), c.hidden.end());
  widths.push_back(c.outputs);
  return absl::StrCat(absl::StrJoin(widths, "->"), " ",
                      ActivationName(c.activation), " ", MlpLossName(c.loss),
                      " ", MlpInitName(c.init));
}

std::vector<TensorSpec> MlpParameterSpecs(const MlpConfig& c) {
  std::vector<TensorSpec> specs;
  for (int l = 0; l < c.num_layers(); ++l) {
    TensorSpec w, b;
    w.set_name(absl::StrCat("fc", l + 1, ".weight"));
    w.add_shape(c.out_width(l));
    w.add_shape(c.in_width(l));
    *w.mutable_init() = WeightInit(c, l);
    b.set_name(absl::StrCat("fc", l + 1, ".bias"));
    b.add_shape(c.out_width(l));
    b.mutable_init()->set_kind(InitRule::ZEROS);
    specs.push_back(std::move(w));
    specs.push_back(std::move(b));
  }
  return specs;
}

int64_t MlpNumParameters(const MlpConfig& c) {
  int64_t n = 0;
  for (int l = 0; l < c.num_layers(); ++l)
    n += static_cast<int64_t>(c.out_width(l)) * (c.in_width(l) + 1);
  return n;
}

absl::Status ExportMlp(const std::string& path, const MlpConfig& c,
                       const float* params, const MlpNormalization& norm) {
  std::vector<SafetensorsEntry> e;
  const float* p = params;
  for (int l = 0; l < c.num_layers(); ++l) {
    const size_t in = c.in_width(l), out = c.out_width(l);
    const int64_t o = static_cast<int64_t>(out), i = static_cast<int64_t>(in);
    e.push_back(
        {absl::StrCat("fc", l + 1, ".weight"), {o, i}, p, out, in, false});
    p += out * in;
    e.push_back({absl::StrCat("fc", l + 1, ".bias"), {o}, p, 1, out, false});
    p += out;
  }
  const size_t f = norm.input_mean.size();
  const int64_t fi = static_cast<int64_t>(f);
  e.push_back({"input_mean", {fi}, norm.input_mean.data(), 1, f, false});
  e.push_back({"input_std", {fi}, norm.input_std.data(), 1, f, false});
  if (norm.regression) {
    e.push_back({"target_mean", {1}, &norm.target_mean, 1, 1, false});
    e.push_back({"target_std", {1}, &norm.target_std, 1, 1, false});
  }
  return WriteSafetensors(path, e);
}

}  // namespace pserve
