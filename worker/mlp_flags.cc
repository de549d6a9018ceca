// The --model=mlp flags; see mlp_flags.h. Not thread-safe: read once.
#include "worker/mlp_flags.h"

#include <string>

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, hidden, "10,5",
          "--model=mlp: hidden layer widths, comma-separated (empty: none); "
          "the input and output widths come from the --data file.");
ABSL_FLAG(std::string, activation, "relu",
          "--model=mlp: relu, sigmoid or tanh, after every hidden layer.");
ABSL_FLAG(std::string, loss, "cross_entropy",
          "--model=mlp: cross_entropy or hinge (multiclass, Weston-Watkins; "
          "binary hinge for 2 classes) on a classification file, mse on a "
          "regression file.");
ABSL_FLAG(std::string, init, "xavier",
          "--model=mlp weights: normal (std --init_scale), uniform (bound "
          "--init_scale), zeros, xavier (uniform, bound sqrt(6/(in+out))) or "
          "kaiming (normal, std sqrt(2/in)); biases start at 0. Applied by "
          "the servers from (--seed, tensor name, element index).");
ABSL_FLAG(double, init_scale, 0.1,
          "--model=mlp: the std of --init=normal, the bound of "
          "--init=uniform.");

namespace pserve {

absl::StatusOr<MlpConfig> MlpConfigFromFlags() {
  MlpConfig c;
  absl::StatusOr<std::vector<int>> hidden =
      ParseHidden(absl::GetFlag(FLAGS_hidden));
  if (!hidden.ok()) return hidden.status();
  c.hidden = *hidden;
  absl::StatusOr<Activation> act =
      ParseActivation(absl::GetFlag(FLAGS_activation));
  if (!act.ok()) return act.status();
  c.activation = *act;
  absl::StatusOr<MlpLoss> loss = ParseMlpLoss(absl::GetFlag(FLAGS_loss));
  if (!loss.ok()) return loss.status();
  c.loss = *loss;
  absl::StatusOr<MlpInit> init = ParseMlpInit(absl::GetFlag(FLAGS_init));
  if (!init.ok()) return init.status();
  c.init = *init;
  const double scale = absl::GetFlag(FLAGS_init_scale);
  if (!(scale > 0 && scale < 1e3))
    return absl::InvalidArgumentError(
        "--init_scale: must be in (0, 1000), e.g. 0.1");
  c.init_scale = static_cast<float>(scale);
  return c;
}

}  // namespace pserve
