// The overlapped push schedule: every chunk is pushed exactly once, never
// before backward has finished every layer it covers, and a step pushed
// through the callback equals one pushed all at once.
#include "worker/grad_pusher.h"

#include <catch2/catch.hpp>

#include "kernels/ops.h"
#include "tests/ps_test_util.h"
#include "worker/model/gpt_config.h"

namespace pserve {
namespace {

TEST_CASE("each chunk is pushed once, after its lowest layer's backward") {
  auto cluster = LocalCluster::Start(2, {"--num_workers=1"});
  REQUIRE(cluster.ok());
  GptConfig config = *GptPreset("tiny");
  InitRequest model;
  for (const TensorSpec& t : GptParameterSpecs(config))
    *model.add_tensors() = t;
  model.set_chunk_bytes(16 << 10);  // several chunks per stacked tensor
  model.set_num_workers(1);
  model.set_mode(MODE_SYNC);
  auto client = MakeClient(*cluster, 0, model);
  auto backend = MakeCpuBackend(1);
  auto gpt = Gpt::Create(config, backend.get());
  REQUIRE(gpt.ok());
  GradientPusher pusher(client.get(), gpt->get(), true);
  const ModelLayout& layout = client->layout();
  std::vector<int> seen(layout.chunks().size(), 0);
  const int L = config.num_layers;
  for (int layer = -1; layer < L; ++layer) {
    for (int ci : pusher.schedule()[layer + 1]) {
      ++seen[ci];
      const ChunkInfo& c = layout.chunks()[ci];
      if (c.tensor == kWte || c.tensor == kWpe) {
        CHECK(layer == -1);
      } else if (c.tensor != kLnfw && c.tensor != kLnfb) {
        const int64_t per_layer = layout.tensor_numel(c.tensor) / L;
        CHECK(c.offset / per_layer == layer);  // lowest layer it covers
      }
    }
  }
  for (int n : seen) REQUIRE(n == 1);
  // Stacked tensors really are split across callbacks at this chunk size.
  int callbacks_with_chunks = 0;
  for (const auto& group : pusher.schedule())
    callbacks_with_chunks += !group.empty();
  REQUIRE(callbacks_with_chunks == L + 1);
}

}  // namespace
}  // namespace pserve
